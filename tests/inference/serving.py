"""Helpers for the serving tests: a published tiny model, subscriptions, OIP request bodies,
and an inference worker. Fixtures here are imported explicitly by the test modules."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.test import Client

from billing.selectors.usage import limits_cache_clear
from core.redis import get_redis
from inference.serving import gateway
from inference.serving.lanes import replies
from marketplace.models import Entitlement, Model, Plan
from marketplace.services.entitlements import entitlement_subscribe
from tests.factories import published_model, tiny_onnx

W = np.array([0.125, -2.5, 3.75, 1.0, 0.5, 7.25, -1.5, 2.0], dtype=np.float32).reshape(4, 2)


def expected(x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(tiny_onnx(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x.astype(np.float32)})[0]


def subscribe(persona, model: Model, kind: str = "payg") -> Entitlement:
    plan = Plan.objects.get(model=model, kind=kind)
    return entitlement_subscribe(organization=persona.organization, user=persona.user, model=model,
                                 plan_id=plan.pk, declared_use="commercial", territory="DE")


def body(x: np.ndarray | list, name: str = "x", datatype: str = "FP32", **extra) -> bytes:
    array = np.asarray(x)
    return json.dumps({"inputs": [{"name": name, "datatype": datatype, "shape": list(array.shape),
                                   "data": array.ravel().tolist()}], **extra}).encode()


def oip_client(persona) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {persona.secret}")


def post_infer(client: Client, name: str, payload: bytes, version: str | None = None, **headers):
    path = f"/v2/models/{name}/versions/{version}/infer" if version else f"/v2/models/{name}/infer"
    return client.post(path, data=payload, content_type="application/json", **headers)


@pytest.fixture(autouse=False)
def fresh_serving_caches():
    # Ids are reused after each test's rollback, so caches keyed by id (entitlements in Redis,
    # resolutions and limits in process) must not outlive a test; queued messages neither.
    get_redis().flushdb()
    gateway.resolve_cache_clear()
    limits_cache_clear()
    replies.reset()
    yield
    gateway.resolve_cache_clear()
    limits_cache_clear()


@pytest.fixture
def tiny(vendor, fresh_serving_caches) -> Model:
    """vendor-co.tiny: public, published, a ready version 1.0.0, plans payg (2 minor/call),
    free (100 calls) and subscription."""
    return published_model(vendor.organization, "tiny", plans=("payg", "free", "subscription"))


@pytest.fixture
def infer_worker(start_worker):
    return start_worker(queues="infer.cpu,default", pool="threads", concurrency=16, name="infer")
