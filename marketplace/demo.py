"""The demo listings that `make run` serves, both from Acme AI, the buyer (Globex) subscribed to
each: a small MLP on /v2, and a tiny random-weight chat model on the OpenAI-compatible /v1. Both
go through the real upload and conversion pipeline like any other model."""

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from accounts.models import Organization, User
from marketplace.models import Entitlement, License, Model, ModelVersion, Plan
from marketplace.services.entitlements import entitlement_subscribe
from marketplace.services.licensing import license_set
from marketplace.services.listings import model_create
from marketplace.services.plans import model_publish, plan_create
from marketplace.services.versions import version_upload

DEMO_MODEL_SLUG = "tiny-mlp"
DEMO_INPUT = {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1.0, 2.0, 3.0, 4.0]}
DEMO_CHAT_SLUG = "tiny-chat"
DEMO_CHAT_BUILD_SECONDS = 300


def demo_onnx() -> bytes:
    """A 4 -> 8 -> 2 MLP with fixed weights, built here so the demo downloads nothing."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    w1, b1 = rng.standard_normal((4, 8)).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    w2, b2 = rng.standard_normal((8, 2)).astype(np.float32), rng.standard_normal(2).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h"]), helper.make_node("MatMul", ["h", "w2"], ["y0"]),
        helper.make_node("Add", ["y0", "b2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "demo_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        initializer=[numpy_helper.from_array(a, name=n) for n, a in
                     (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def demo_listing_upload(*, vendor: Organization, vendor_user: User) -> Model:
    """Creates the listing, its license and plans, and uploads version 1.0.0 (idempotent)."""
    model = Model.objects.filter(organization=vendor, slug=DEMO_MODEL_SLUG).first()
    if model is None:
        model = model_create(organization=vendor, slug=DEMO_MODEL_SLUG, name="Tiny MLP",
                             task="tabular-regression", tags=["demo", "tabular"],
                             description="A four-feature regression MLP, served by Modelbay's demo.")
    if not License.objects.filter(model=model).exists():
        license_set(model=model, actor=vendor_user, kind="spdx", identifier="Apache-2.0", commercial_use=True,
                    weight_download=True)
    if not Plan.objects.filter(model=model).exists():
        plan_create(model=model, actor=vendor_user, name="Free tier", kind="free", included_calls=1000)
        plan_create(model=model, actor=vendor_user, name="Pay as you go", kind="payg", unit="call",
                    unit_price_minor=1)
    if not ModelVersion.objects.filter(model=model).exists():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "tiny-mlp.onnx"
            path.write_bytes(demo_onnx())
            version_upload(model=model, upload=path, filename=path.name, version="1.0.0")
    return model


def demo_listing_finish(*, model: Model, vendor_user: User, buyer: Organization, buyer_user: User,
                        wait_seconds: float = 180, while_waiting: Callable[[], None] = lambda: None) -> bool:
    """Once the pipeline made the version ready: publish and subscribe the buyer to the paid plan.
    `while_waiting` runs between polls (the run command supervises its processes there)."""
    deadline = time.monotonic() + wait_seconds
    while (state := _version_state(model)) != "ready":
        if state == "failed" or time.monotonic() > deadline:
            return False
        while_waiting()
        time.sleep(0.5)
    _publish_and_subscribe(model=model, vendor_user=vendor_user, buyer=buyer, buyer_user=buyer_user)
    return True


def _version_state(model: Model) -> str:
    """"ready" once a version is, "failed" once every version failed, else "converting"."""
    statuses = set(ModelVersion.objects.filter(model=model).values_list("status", flat=True))
    if ModelVersion.Status.READY in statuses:
        return "ready"
    return "failed" if statuses == {ModelVersion.Status.FAILED} else "converting"


def _publish_and_subscribe(*, model: Model, vendor_user: User, buyer: Organization, buyer_user: User) -> None:
    """Publishes a ready demo listing and subscribes the buyer to its pay-as-you-go plan (idempotent)."""
    if model.status != Model.Status.PUBLISHED:
        model_publish(model=model, actor=vendor_user)
    if not Entitlement.objects.filter(organization=buyer, model=model, status="active").exists():
        plan = Plan.objects.get(model=model, kind="payg")
        entitlement_subscribe(organization=buyer, user=buyer_user, model=model, plan_id=plan.pk,
                              declared_use="commercial", territory="US")


def demo_chat_upload(*, vendor: Organization, vendor_user: User) -> Model:
    """Creates the chat listing (priced per token) and uploads version 1.0.0: a 2-layer Llama with
    random weights and a tokenizer trained here, so its replies are meaningless text; it is there to
    show the OpenAI-compatible API, streaming and per-token billing (idempotent)."""
    model = Model.objects.filter(organization=vendor, slug=DEMO_CHAT_SLUG).first()
    if model is None:
        model = model_create(organization=vendor, slug=DEMO_CHAT_SLUG, name="Tiny Chat", task="text-generation",
                             tags=["demo", "llm"],
                             description="A 2-layer Llama with random weights: its replies are meaningless text. "
                                         "It shows the OpenAI-compatible chat API, streaming and per-token "
                                         "billing.")  # fmt: skip
    if not License.objects.filter(model=model).exists():
        license_set(model=model, actor=vendor_user, kind="spdx", identifier="Apache-2.0", commercial_use=True,
                    weight_download=True)
    if not Plan.objects.filter(model=model).exists():
        plan_create(model=model, actor=vendor_user, name="Pay per token", kind="payg", unit="1m_tokens",
                    input_price_per_million_minor=Decimal("50"), output_price_per_million_minor=Decimal("150"))
    if not ModelVersion.objects.filter(model=model).exists():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "tiny-chat.zip"
            # Its own process: building the weights needs torch, which the run process never imports.
            subprocess.run([sys.executable, "-m", "marketplace.demo_lm", "llama", str(path)], check=True,
                           capture_output=True, timeout=DEMO_CHAT_BUILD_SECONDS)  # fmt: skip
            version_upload(model=model, upload=path, filename=path.name, version="1.0.0")
    return model
