"""Multipart uploads on S3-compatible storage (issue #15 item 1): the parts are S3 multipart parts,
through django-storages and boto3, against moto's S3 server running as its own process."""

import hashlib
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest

from marketplace.models import UploadSession
from tests.marketplace.test_multipart_uploads import complete, open_upload, put_part

pytestmark = pytest.mark.django_db

MIB = 2**20
BUCKET = "modelbay-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto's S3 server did not start") from None
            time.sleep(0.1)
    yield endpoint
    server.terminate()
    server.wait(10)


@pytest.fixture
def s3(s3_endpoint, settings, monkeypatch):
    """Artifacts and upload parts in a fresh bucket, as production configures S3 storage."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": s3_endpoint, "default_acl": "private"},
    }}  # fmt: skip
    settings.MODELBAY_UPLOAD_MIN_PART_BYTES = 5 * MIB  # S3's floor, enforced by the server too
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    for upload in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []):
        client.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
    client.delete_bucket(Bucket=BUCKET)


def _onnx_with_weights(size: int) -> bytes:
    """A valid ONNX file of about `size` bytes (an initializer carries the weight)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.random.default_rng(0).random(size // 4, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])], [weights])  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.fixture
def listing(vendor):
    assert vendor.client.post("/api/v1/vendor/models", {"name": "Big", "slug": "big"}, format="json").status_code == 201
    return "big"


def test_parts_are_s3_multipart_parts_and_complete_stores_the_version_in_the_bucket(vendor, listing, s3):
    data = _onnx_with_weights(11 * MIB)
    body = open_upload(vendor, listing, {"model.onnx": data}, part_size=5 * MIB).json()
    assert body["files"][0]["parts"] == 3
    for number in (2, 0, 1):
        chunk = data[number * 5 * MIB:(number + 1) * 5 * MIB]
        assert put_part(vendor, body["id"], 0, number, chunk).status_code == 200

    session = UploadSession.objects.get(pk=body["id"])
    key = f"uploads/{session.organization_id}/{session.id}/0"
    listed = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=session.store_state["0"])["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2, 3]
    assert all(p["Size"] > 5 * MIB for p in listed[:2])  # sealed: a little larger than the plaintext

    created = complete(vendor, body["id"])
    assert created.status_code == 202, created.content
    assert created.json()["source_sha256"] == hashlib.sha256(data).hexdigest()
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert f"artifacts/{session.organization_id}/{hashlib.sha256(data).hexdigest()}" in keys
    assert not [k for k in keys if k.startswith("uploads/")]  # the assembled object is gone
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")


def test_a_wrong_part_is_refused_and_a_cancelled_upload_leaves_nothing_in_the_bucket(vendor, listing, s3):
    data = b"\x01" * (6 * MIB)
    body = open_upload(vendor, listing, {"model.onnx": data}, part_size=5 * MIB).json()
    wrong = put_part(vendor, body["id"], 0, 0, data[:5 * MIB], digest=hashlib.sha256(b"other").hexdigest())
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "part_hash_mismatch"
    assert put_part(vendor, body["id"], 0, 0, data[:5 * MIB]).status_code == 200
    assert len(s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"]) == 1

    assert vendor.client.delete(f"/api/v1/vendor/uploads/{body['id']}").status_code == 204
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    assert not s3.list_objects_v2(Bucket=BUCKET).get("Contents")
