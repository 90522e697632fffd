"""The demo listing that `make run` serves: a small MLP from Acme AI that the buyer (Globex) is
subscribed to. The model goes through the real upload and conversion pipeline like any other."""

import tempfile
import time
from collections.abc import Callable
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
    while not ModelVersion.objects.filter(model=model, status=ModelVersion.Status.READY).exists():
        if time.monotonic() > deadline or ModelVersion.objects.filter(model=model, status="failed").exists():
            return False
        while_waiting()
        time.sleep(0.5)
    if model.status != Model.Status.PUBLISHED:
        model_publish(model=model, actor=vendor_user)
    if not Entitlement.objects.filter(organization=buyer, model=model, status="active").exists():
        plan = Plan.objects.get(model=model, kind="payg")
        entitlement_subscribe(organization=buyer, user=buyer_user, model=model, plan_id=plan.pk,
                              declared_use="commercial", territory="US")
    return True
