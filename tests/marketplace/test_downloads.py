import hashlib
import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditLog
from marketplace.models import Download
from tests.factories import published_model
from tests.marketplace.test_entitlements import subscribe

pytestmark = pytest.mark.django_db


def download(persona, model):
    return persona.client.get(f"/api/v1/catalog/models/{model.organization.slug}/{model.slug}/download")


def body(response) -> bytes:
    """The copy is streamed from a temporary file, never built in memory."""
    assert response.streaming
    return b"".join(response.streaming_content)


def verify(path) -> str:
    out = io.StringIO()
    call_command("verify_fingerprint", str(path), stdout=out)
    return out.getvalue()


def test_downloaded_file_is_fingerprinted_and_the_tool_names_the_buyer(vendor, buyer, outsider, tmp_path):
    model = published_model(vendor.organization, weight_download=True)
    subscribe(buyer, model, model.plans.get())
    subscribe(outsider, model, model.plans.get())
    response = download(buyer, model)
    assert response.status_code == 200
    content = body(response)
    assert response["X-Content-SHA256"] == hashlib.sha256(content).hexdigest()
    assert int(response["Content-Length"]) == len(content)
    assert response["Content-Disposition"] == 'attachment; filename="vendor-co.tiny-1.0.0.onnx"'

    # Still the vendor's model: it loads and computes the same thing.
    session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    x = np.ones((1, 4), dtype=np.float32)
    assert np.allclose(session.run(None, {"x": x})[0], [[2.875, 7.75]])

    leaked = tmp_path / "leaked.onnx"
    leaked.write_bytes(content)
    report = verify(leaked)
    assert "buyer organization: buyer-co" in report
    assert "identical to the copy handed out" in report

    other = body(download(outsider, model))
    assert other != content
    (tmp_path / "other.onnx").write_bytes(other)
    assert "buyer organization: outsider-co" in verify(tmp_path / "other.onnx")
    assert Download.objects.filter(organization=buyer.organization).count() == 1
    assert AuditLog.objects.filter(organization=buyer.organization, action="model.downloaded").exists()


def test_a_modified_copy_still_names_the_buyer_and_a_forged_mark_is_refused(vendor, buyer, tmp_path):
    model = published_model(vendor.organization, weight_download=True)
    subscribe(buyer, model, model.plans.get())
    proto = onnx.load_from_string(body(download(buyer, model)))
    proto.doc_string = "re-uploaded somewhere"
    modified = tmp_path / "modified.onnx"
    modified.write_bytes(proto.SerializeToString())
    report = verify(modified)
    assert "buyer organization: buyer-co" in report and "modified after download" in report

    for prop in proto.metadata_props:
        if prop.key == "modelbay.fingerprint":
            prop.value = prop.value.replace(f'"org": {buyer.organization.pk}', '"org": 1')
    forged = tmp_path / "forged.onnx"
    forged.write_bytes(proto.SerializeToString())
    with pytest.raises(CommandError, match="forged or altered"):
        verify(forged)


def test_api_only_license_refuses_download_saying_so(vendor, buyer):
    model = published_model(vendor.organization, weight_download=False)
    subscribe(buyer, model, model.plans.get())
    response = download(buyer, model)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "license_api_only"
    assert "API-only" in response.json()["error"]["message"]
    assert not Download.objects.exists()


def test_download_needs_an_entitlement(vendor, buyer):
    model = published_model(vendor.organization, weight_download=True)
    response = download(buyer, model)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "license_not_accepted"
    assert response.json()["error"]["details"]["subscribe_url"].endswith("/subscribe")
