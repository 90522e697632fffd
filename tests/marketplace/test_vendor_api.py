"""Vendor API without a worker: listings, uploads refused at the door, tenancy, encryption."""

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import ApiKey
from marketplace.artifacts import ArtifactCorrupt, artifact_export_to, artifact_read, artifact_save
from marketplace.models import Model, ModelVersion
from tests.conftest import make_persona

pytestmark = pytest.mark.django_db

MARKER = Path(settings.VAR_DIR) / "pickle-side-effect"


class Boom:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def listing(vendor) -> Model:
    response = vendor.client.post("/api/v1/vendor/models", {"name": "Tiny", "slug": "tiny", "task": "regression"},
                                  format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    return Model.objects.get(organization=vendor.organization, slug="tiny")


def test_vendor_creates_and_updates_a_model_but_cannot_assign_tenant_or_status(vendor, outsider, listing):
    response = vendor.client.patch(
        "/api/v1/vendor/models/tiny",
        {"description": "a tiny model", "status": "published", "organization": outsider.organization.pk,
         "owner": outsider.user.pk, "tags": ["demo"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    listing.refresh_from_db()
    assert listing.description == "a tiny model" and listing.tags == ["demo"]
    assert listing.status == Model.Status.DRAFT
    assert listing.organization_id == vendor.organization.pk
    assert [m["slug"] for m in vendor.client.get("/api/v1/vendor/models").json()] == ["tiny"]


def test_duplicate_slug_is_a_conflict(vendor, listing):
    response = vendor.client.post("/api/v1/vendor/models", {"name": "Again", "slug": "tiny"}, format="json")
    assert response.status_code == 409


def test_key_without_vendor_scope_is_refused(db, listing):
    reader = make_persona("reader-co", scopes=[ApiKey.Scope.CATALOG_READ])
    response = reader.client.get("/api/v1/vendor/models")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scope"


def test_oversize_upload_is_413_and_nothing_is_stored(vendor, listing, settings):
    settings.MODELBAY_MAX_UPLOAD_BYTES = 1000
    before = set(_files_under(Path(settings.MEDIA_ROOT)))
    response = vendor.client.post("/api/v1/vendor/models/tiny/versions",
                                  {"file": SimpleUploadedFile("big.onnx", b"\x08" * 5000)}, format="multipart")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert set(_files_under(Path(settings.MEDIA_ROOT))) == before
    assert not ModelVersion.objects.exists()


def test_oversize_upload_with_lying_content_length_is_caught_while_streaming(vendor, listing, settings):
    from core.errors import PayloadTooLarge
    from marketplace.apis.vendor import CappedUploadHandler

    settings.MODELBAY_MAX_UPLOAD_BYTES = 1000
    handler = CappedUploadHandler(None)
    handler.handle_raw_input(None, {}, 10, b"boundary")  # claims 10 bytes
    handler.receive_data_chunk(b"x" * 900, 0)
    with pytest.raises(PayloadTooLarge):
        handler.receive_data_chunk(b"x" * 200, 900)


@pytest.mark.parametrize("name", ["weights.pth", "model.onnx", "model.safetensors", "model.pt2"])
def test_malicious_pickle_is_refused_with_422_and_never_runs(vendor, listing, name):
    MARKER.unlink(missing_ok=True)
    payload = pickle.dumps(Boom(), protocol=4)
    response = vendor.client.post("/api/v1/vendor/models/tiny/versions",
                                  {"file": SimpleUploadedFile(name, payload)}, format="multipart")
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "unsupported_model_format"
    assert "pickle" in error["message"] and "torch.export.save" in error["message"]
    assert not MARKER.exists()
    assert not ModelVersion.objects.exists()


def test_seven_zip_upload_is_refused_as_malformed(vendor, listing):
    response = vendor.client.post("/api/v1/vendor/models/tiny/versions",
                                  {"file": SimpleUploadedFile("m.7z", b"7z\xbc\xaf\x27\x1c" + b"\0" * 100)},
                                  format="multipart")  # fmt: skip
    assert response.status_code == 422
    assert "7z" in response.json()["error"]["message"]


def _tiny_onnx() -> bytes:
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])])  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_upload_is_accepted_with_stages_and_default_version(vendor, listing, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = vendor.client.post(
            "/api/v1/vendor/models/tiny/versions",
            {"file": SimpleUploadedFile("relu.onnx", _tiny_onnx()), "example_inputs": '{"x": [[1, 2, 3, 4]]}'},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["version"] == "1.0.0" and body["status"] == "received" and body["source_format"] == "onnx"
    assert [s["name"] for s in body["stages"]] == ["scanning", "converting", "validating", "optimizing",
                                                    "benchmarking"]  # fmt: skip
    assert all(s["state"] == "pending" for s in body["stages"])
    assert len(callbacks) == 1  # the pipeline is queued only after the commit
    version = ModelVersion.objects.get()
    stored = np.load(io.BytesIO(artifact_read(organization=vendor.organization, name=version.example_inputs_artifact)))
    assert stored["x"].tolist() == [[1.0, 2.0, 3.0, 4.0]]
    second = vendor.client.post("/api/v1/vendor/models/tiny/versions",
                                {"file": SimpleUploadedFile("relu.onnx", _tiny_onnx())}, format="multipart")
    assert second.json()["version"] == "1.0.1"
    # the same bytes are stored once
    assert ModelVersion.objects.values("source_artifact").distinct().count() == 1


def test_a_zip_expanding_past_the_scan_cap_is_refused_at_the_door_with_nothing_kept(vendor, listing, settings):
    settings.MODELBAY_SCAN_MAX_TOTAL_BYTES = 4096
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.onnx", _tiny_onnx())
        archive.writestr("model.onnx.data", b"\0" * 8192)  # compresses to almost nothing
    stored_before = _files_under(Path(settings.MEDIA_ROOT))
    response = vendor.client.post("/api/v1/vendor/models/tiny/versions",
                                  {"file": SimpleUploadedFile("model.zip", packed.getvalue())}, format="multipart")
    assert response.status_code == 413, response.content
    error = response.json()["error"]
    assert error["code"] == "model_too_large_to_scan" and error["details"]["max_bytes"] == 4096
    assert error["details"]["bytes"] > 8192
    assert not ModelVersion.objects.exists() and _files_under(Path(settings.MEDIA_ROOT)) == stored_before


def test_outsider_cannot_see_or_touch_another_vendors_models_or_versions(vendor, outsider, listing):
    vendor.client.post("/api/v1/vendor/models/tiny/versions",
                       {"file": SimpleUploadedFile("relu.onnx", _tiny_onnx())}, format="multipart")
    assert outsider.client.get("/api/v1/vendor/models").json() == []
    for call in (
        lambda c: c.get("/api/v1/vendor/models/tiny"),
        lambda c: c.patch("/api/v1/vendor/models/tiny", {"name": "mine"}, format="json"),
        lambda c: c.get("/api/v1/vendor/models/tiny/versions"),
        lambda c: c.get("/api/v1/vendor/models/tiny/versions/1.0.0"),
        lambda c: c.delete("/api/v1/vendor/models/tiny/versions/1.0.0"),
        lambda c: c.post("/api/v1/vendor/models/tiny/versions",
                         {"file": SimpleUploadedFile("relu.onnx", _tiny_onnx())}, format="multipart"),
    ):
        assert call(outsider.client).status_code == 404
    assert Model.objects.get(slug="tiny").name == "Tiny"
    assert ModelVersion.objects.count() == 1


def test_draft_can_be_deleted_but_ready_version_cannot(vendor, listing, django_capture_on_commit_callbacks):
    vendor.client.post("/api/v1/vendor/models/tiny/versions",
                       {"file": SimpleUploadedFile("relu.onnx", _tiny_onnx())}, format="multipart")
    version = ModelVersion.objects.get()
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.READY)
    assert vendor.client.delete("/api/v1/vendor/models/tiny/versions/1.0.0").status_code == 409
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        assert vendor.client.delete("/api/v1/vendor/models/tiny/versions/1.0.0").status_code == 204
    assert not ModelVersion.objects.exists()
    assert not (Path(settings.MEDIA_ROOT) / version.source_artifact).exists()


def test_ready_version_is_immutable(vendor, listing):
    from core.errors import Conflict
    from marketplace.services.versions import version_update

    vendor.client.post("/api/v1/vendor/models/tiny/versions",
                       {"file": SimpleUploadedFile("relu.onnx", _tiny_onnx())}, format="multipart")
    version = ModelVersion.objects.get()
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.READY)
    version.refresh_from_db()
    with pytest.raises(Conflict):
        version_update(version=version, hardware_class="gpu")


@pytest.mark.parametrize("field", ["tokenizer_artifact", "example_inputs_artifact", "int4_size", "pipeline_state",
                                   "claim_token", "status"])
def test_a_converting_version_takes_only_descriptive_changes(vendor, listing, field):
    from core.errors import InvalidInput
    from marketplace.services.versions import version_update

    vendor.client.post("/api/v1/vendor/models/tiny/versions",
                       {"file": SimpleUploadedFile("relu.onnx", _tiny_onnx())}, format="multipart")
    version = ModelVersion.objects.get()
    before = getattr(version, field)
    with pytest.raises(InvalidInput, match=field):
        version_update(version=version, **{field: before or "x"})
    assert version_update(version=version, hardware_class="gpu").hardware_class == "gpu"
    version.refresh_from_db()
    assert getattr(version, field) == before


def test_artifacts_are_encrypted_at_rest_and_tampering_is_detected(vendor, tmp_path):
    pattern = b"MODELBAY-PLAINTEXT-WEIGHTS-" * 4096  # > 1 chunk boundary with the padding below
    data = pattern + os.urandom(1024 * 1024)
    artifact = artifact_save(organization=vendor.organization, source=io.BytesIO(data), kind="source")
    on_disk = (Path(settings.MEDIA_ROOT) / artifact.name).read_bytes()
    assert b"MODELBAY-PLAINTEXT-WEIGHTS-" not in on_disk
    assert artifact.name == f"artifacts/{vendor.organization.pk}/{artifact.sha256}"
    out = tmp_path / "plain"
    artifact_export_to(organization=vendor.organization, name=artifact.name, path=out)
    assert out.read_bytes() == data and (out.stat().st_mode & 0o777) == 0o600
    # truncating the last chunk or flipping a byte fails authentication
    (Path(settings.MEDIA_ROOT) / artifact.name).write_bytes(on_disk[: 16 + 1024 * 1024 + 16])
    with pytest.raises(ArtifactCorrupt):
        artifact_read(organization=vendor.organization, name=artifact.name)


def test_zip_traversal_upload_fails_at_scanning_without_a_worker_loading_it(vendor, listing, tmp_path):
    """The zip checks run in the scanning stage; here the stage runs in-process."""
    from inference.conversion.tasks import process_version

    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("model.safetensors", b"\0" * 16)
        zf.writestr("../../escape.txt", "x")
    response = vendor.client.post("/api/v1/vendor/models/tiny/versions",
                                  {"file": SimpleUploadedFile("evil.zip", path.read_bytes())}, format="multipart")
    if response.status_code == 422:  # refused at the door is fine too
        return
    assert response.status_code == 202, response.content
    process_version(ModelVersion.objects.get().pk)
    body = vendor.client.get("/api/v1/vendor/models/tiny/versions/1.0.0").json()
    assert body["status"] == "failed" and body["failure"]["stage"] == "scanning"
    assert ".." in body["failure"]["reason"] or "path" in body["failure"]["reason"]
