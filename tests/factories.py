import factory

from accounts.models import Membership, Organization, User

PASSWORD = "correct horse battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.com")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.objects.create_user(*args, password=PASSWORD, **kwargs)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.OWNER


# --- marketplace: tiny ready versions without running the conversion pipeline ---------------

def tiny_onnx(weights: list[float] | None = None) -> bytes:
    """y = x @ W for x of shape [-1, 4]; W (4x2) is an initializer, so the bytes hold weights."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.array(weights or [0.125, -2.5, 3.75, 1.0, 0.5, 7.25, -1.5, 2.0], dtype=np.float32).reshape(4, 2)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        initializer=[numpy_helper.from_array(w, name="W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def evil_domain_onnx() -> bytes:
    """A well-formed ONNX whose node lives in an operator domain never loaded (SECURITY.md #7)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Steal", ["x"], ["y"], domain="com.evil")], "evil",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.evil", 1)])
    model.ir_version = 8
    return model.SerializeToString()


TINY_SIGNATURE = {
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
    "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}],
}


def ready_version(model, version: str = "1.0.0", *, onnx_bytes: bytes | None = None, benchmark: dict | None = None):
    """A ModelVersion in status ready whose ONNX is stored (encrypted) through artifact_save."""
    import io

    from django.utils import timezone

    from marketplace.artifacts import artifact_save
    from marketplace.models import ModelVersion

    artifact = artifact_save(organization=model.organization, source=io.BytesIO(onnx_bytes or tiny_onnx()),
                             kind="onnx")
    return ModelVersion.objects.create(
        model=model, version=version, status=ModelVersion.Status.READY, source_format="onnx",
        onnx_artifact=artifact.name, onnx_sha256=artifact.sha256, onnx_size=artifact.size,
        signature=TINY_SIGNATURE, opset=17, ready_at=timezone.now(),
        benchmark=benchmark or {"batches": {"1": {"p50_ms": 0.05, "p95_ms": 0.08}}},
    )


def published_model(organization, slug: str = "tiny", *, commercial_use: bool = True,
                    weight_download: bool = False, plans: tuple[str, ...] = ("payg",), **license_terms):
    """A public, published model with a ready version, a license and plans; returns the Model."""
    from marketplace.models import Model
    from marketplace.services.licensing import license_set
    from marketplace.services.plans import model_publish, plan_create

    model = Model.objects.create(organization=organization, slug=slug, name=slug.title(), task="regression",
                                 description="A tiny test model.", tags=["tiny", "test"])
    ready_version(model)
    license_set(model=model, actor=None, kind="custom", identifier="Tiny EULA", text="You may use it.",
                commercial_use=commercial_use, weight_download=weight_download, **license_terms)
    prices = {"free": {"included_calls": 100}, "payg": {"unit_price_minor": 2},
              "subscription": {"monthly_fee_minor": 900, "included_calls": 1000, "overage_price_minor": 1}}
    for kind in plans:
        plan_create(model=model, actor=None, name=kind.title(), kind=kind, **prices[kind])
    return model_publish(model=model, actor=None)
