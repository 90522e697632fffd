"""Resumable multipart uploads through the vendor API (issue #15 item 1), without a worker:
sessions, parts checked against their own hashes, completion, tenancy, caps. The whole flow to
`ready` and the beat expiry run with real workers in tests/e2e/test_multipart_upload.py."""

import hashlib
from pathlib import Path

import pytest
from django.conf import settings

from marketplace.models import ModelVersion, UploadPart, UploadSession
from tests.marketplace.test_vendor_api import _tiny_onnx

pytestmark = pytest.mark.django_db

PART = 1024


@pytest.fixture(autouse=True)
def small_parts(settings):
    settings.MODELBAY_UPLOAD_MIN_PART_BYTES = 256
    settings.MODELBAY_UPLOAD_PART_BYTES = PART


@pytest.fixture
def listing(vendor):
    response = vendor.client.post("/api/v1/vendor/models", {"name": "Tiny", "slug": "tiny"}, format="json")
    assert response.status_code == 201, response.content
    return "tiny"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def declare(files: dict[str, bytes]) -> list[dict]:
    return [{"path": path, "size": len(data), "sha256": sha(data)} for path, data in files.items()]


def open_upload(persona, slug: str, files: dict[str, bytes], **extra):
    return persona.client.post(f"/api/v1/vendor/models/{slug}/uploads", {"files": declare(files), **extra},
                               format="json")  # fmt: skip


def put_part(persona, session_id: str, index: int, number: int, data: bytes, digest: str | None = None):
    return persona.client.generic(
        "PUT", f"/api/v1/vendor/uploads/{session_id}/files/{index}/parts/{number}", data,
        content_type="application/octet-stream", HTTP_X_PART_SHA256=digest or sha(data),
    )  # fmt: skip


def send_all(persona, body: dict, files: dict[str, bytes], *, skip: set[tuple[int, int]] = frozenset()) -> None:
    size = body["part_size"]
    for index, data in enumerate(files.values()):
        for number in range(-(-len(data) // size)):
            if (index, number) not in skip:
                response = put_part(persona, body["id"], index, number, data[number * size:(number + 1) * size])
                assert response.status_code == 200, response.content


def complete(persona, session_id: str):
    return persona.client.post(f"/api/v1/vendor/uploads/{session_id}/complete")


def parts_dir(session_id: str) -> Path:
    session = UploadSession.objects.get(pk=session_id)
    return Path(settings.MEDIA_ROOT) / "uploads" / str(session.organization_id) / str(session.id)


def test_opening_the_same_file_list_again_resumes_the_session(vendor, listing):
    files = {"model.onnx": b"a" * 2500, "extra.bin": b"b" * 10}
    first = open_upload(vendor, listing, files, version="1.2.0")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["status"] == "open" and body["part_size"] == PART and body["total_size"] == 2510
    assert [(f["index"], f["parts"], f["present"]) for f in body["files"]] == [(0, 3, []), (1, 1, [])]
    assert put_part(vendor, body["id"], 0, 1, files["model.onnx"][PART:2 * PART]).status_code == 200

    again = open_upload(vendor, listing, files, version="1.2.0")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert again.json()["files"][0]["present"] == [1] and again.json()["bytes_received"] == PART

    other = open_upload(vendor, listing, {"model.onnx": b"c" * 2500}, version="1.2.0")
    assert other.status_code == 409 and other.json()["error"]["code"] == "upload_exists"
    assert body["id"] in other.json()["error"]["message"]


def test_a_part_with_a_wrong_hash_is_refused_and_can_be_sent_again(vendor, listing):
    data = _tiny_onnx()
    body = open_upload(vendor, listing, {"relu.onnx": data}).json()
    refused = put_part(vendor, body["id"], 0, 0, data[:PART] if len(data) > PART else data, digest=sha(b"other"))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "part_hash_mismatch"
    assert vendor.client.get(f"/api/v1/vendor/uploads/{body['id']}").json()["files"][0]["present"] == []
    assert not UploadPart.objects.exists()

    send_all(vendor, body, {"relu.onnx": data})
    send_all(vendor, body, {"relu.onnx": data})  # the same part again: harmless
    state = vendor.client.get(f"/api/v1/vendor/uploads/{body['id']}").json()
    assert state["files"][0]["present"] == list(range(state["files"][0]["parts"]))
    assert state["bytes_received"] == len(data)
    done = complete(vendor, body["id"])
    assert done.status_code == 202, done.content
    assert done.json()["status"] == "received" and done.json()["source_format"] == "onnx"
    assert done.json()["source_sha256"] == sha(data) and done.json()["source_filename"] == "relu.onnx"
    assert vendor.client.get(f"/api/v1/vendor/uploads/{body['id']}").json()["status"] == "completed"
    assert not parts_dir(body["id"]).exists()
    again = complete(vendor, body["id"])  # the answer was lost: asking again gives the same version
    assert again.status_code == 202 and again.json()["version"] == done.json()["version"]
    assert ModelVersion.objects.count() == 1


def test_several_files_are_assembled_into_one_zip_and_an_empty_file_needs_no_part(vendor, listing):
    import zipfile

    from marketplace.artifacts import artifact_export_to

    files = {"model.onnx": _tiny_onnx(), "notes/empty.txt": b""}
    body = open_upload(vendor, listing, files, version="2.0.0").json()
    assert [f["parts"] for f in body["files"]] == [1, 0]
    send_all(vendor, body, files)
    done = complete(vendor, body["id"])
    assert done.status_code == 202, done.content
    assert done.json()["source_filename"] == "tiny-2.0.0.zip"
    version = ModelVersion.objects.get(version="2.0.0")
    exported = Path(settings.VAR_DIR) / "assembled.zip"
    artifact_export_to(organization=version.model.organization, name=version.source_artifact, path=exported)
    with zipfile.ZipFile(exported) as archive:
        assert {name: archive.read(name) for name in archive.namelist()} == files
    exported.unlink()


def test_parts_of_the_wrong_size_number_or_without_a_hash_are_refused_by_code(vendor, listing, settings):
    data = b"x" * 2500
    body = open_upload(vendor, listing, {"model.onnx": data}).json()
    cases = [
        (put_part(vendor, body["id"], 0, 0, data[:PART - 1]), 400, "part_size_mismatch"),
        (put_part(vendor, body["id"], 0, 3, data[:PART]), 400, "part_out_of_range"),
        (put_part(vendor, body["id"], 1, 0, data[:PART]), 400, "file_out_of_range"),
        (put_part(vendor, body["id"], 0, 0, data[:PART], digest="nope"), 400, "part_hash_missing"),
    ]
    settings.MODELBAY_UPLOAD_MAX_PART_BYTES = 512
    cases.append((put_part(vendor, body["id"], 0, 0, data[:PART]), 413, "payload_too_large"))
    assert [(r.status_code, r.json()["error"]["code"]) for r, *_ in cases] == [(s, c) for _, s, c in cases]
    assert not UploadPart.objects.exists()


def test_completing_with_a_missing_part_names_it(vendor, listing):
    files = {"config.json": b"{}" * 10, "model.safetensors": b"w" * 3000}
    body = open_upload(vendor, listing, files).json()
    send_all(vendor, body, files, skip={(1, 1)})
    response = complete(vendor, body["id"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "upload_incomplete"
    assert response.json()["error"]["details"]["missing"] == {"model.safetensors": [1]}
    assert vendor.client.get(f"/api/v1/vendor/uploads/{body['id']}").json()["status"] == "open"
    assert not ModelVersion.objects.exists()


def test_an_assembled_file_that_does_not_match_its_declared_hash_is_refused_with_nothing_kept(vendor, listing):
    real = _tiny_onnx()
    declared = [{"path": "relu.onnx", "size": len(real), "sha256": sha(b"x" * len(real))}]
    response = vendor.client.post(f"/api/v1/vendor/models/{listing}/uploads", {"files": declared}, format="json")
    body = response.json()
    send_all(vendor, body, {"relu.onnx": real})  # every part matches its own hash
    assert any(parts_dir(body["id"]).rglob("*"))

    refused = complete(vendor, body["id"])
    assert refused.status_code == 422, refused.content
    error = refused.json()["error"]
    assert error["code"] == "upload_hash_mismatch" and error["details"]["path"] == "relu.onnx"
    assert error["details"]["assembled"] == sha(real)
    assert UploadSession.objects.get(pk=body["id"]).status == "cancelled"
    assert not parts_dir(body["id"]).exists() and not UploadPart.objects.exists()
    assert not ModelVersion.objects.exists()
    artifacts = Path(settings.MEDIA_ROOT) / "artifacts" / str(UploadSession.objects.get().organization_id)
    assert not (artifacts / sha(real)).exists()
    assert put_part(vendor, body["id"], 0, 0, real[:PART]).json()["error"]["code"] == "upload_closed"
    # A client that lost that answer (a proxy's timeout) and asks again gets the same one, not
    # "closed", and the session says why it was cancelled.
    again = complete(vendor, body["id"])
    assert again.status_code == 422 and again.json() == refused.json()
    session = vendor.client.get(f"/api/v1/vendor/uploads/{body['id']}").json()
    assert session["status"] == "cancelled" and session["refusal"] == error and session["completing"] is False


def test_another_vendor_cannot_see_add_to_complete_or_cancel_a_session(vendor, outsider, listing):
    data = b"x" * 2000
    body = open_upload(vendor, listing, {"model.onnx": data}).json()
    url = f"/api/v1/vendor/uploads/{body['id']}"
    answers = [
        outsider.client.get(url),
        put_part(outsider, body["id"], 0, 0, data[:PART]),
        complete(outsider, body["id"]),
        outsider.client.delete(url),
        open_upload(outsider, listing, {"model.onnx": data}),  # nor open one on someone else's model
    ]
    assert [r.status_code for r in answers] == [404] * 5
    assert vendor.client.get(url).json()["status"] == "open" and not UploadPart.objects.exists()


def test_cancelling_deletes_the_parts(vendor, listing):
    files = {"model.onnx": b"z" * 3000}
    body = open_upload(vendor, listing, files).json()
    send_all(vendor, body, files)
    assert vendor.client.delete(f"/api/v1/vendor/uploads/{body['id']}").status_code == 204
    assert not parts_dir(body["id"]).exists() and not UploadPart.objects.exists()
    assert vendor.client.get(f"/api/v1/vendor/uploads/{body['id']}").json()["status"] == "cancelled"


def test_a_part_that_arrives_while_the_session_is_cancelled_is_not_kept(vendor, listing):
    import io

    from marketplace.services.uploads import UploadClosed, upload_part_receive

    data = b"r" * 3000
    body = open_upload(vendor, listing, {"model.onnx": data}).json()
    arriving = UploadSession.objects.get(pk=body["id"])  # read by the part's request before the cancel
    assert vendor.client.delete(f"/api/v1/vendor/uploads/{body['id']}").status_code == 204
    with pytest.raises(UploadClosed):
        upload_part_receive(session=arriving, file_index=0, number=0, body=io.BytesIO(data[:PART]),
                            length=PART, sha256=sha(data[:PART]))  # fmt: skip
    assert not parts_dir(body["id"]).exists() and not UploadPart.objects.exists()


def test_completing_a_large_upload_keeps_memory_flat(vendor, listing, settings):
    """64 MiB assembled, checked and encrypted for the pipeline with a few MiB of Python memory."""
    import os
    import tracemalloc

    settings.MODELBAY_UPLOAD_PART_BYTES = 8 * 2**20
    files = {"weights.bin": os.urandom(64 * 2**20), "model.onnx": _tiny_onnx()}
    body = open_upload(vendor, listing, files).json()
    send_all(vendor, body, files)
    del files
    tracemalloc.start()
    try:
        done = complete(vendor, body["id"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert done.status_code == 202, done.content
    assert done.json()["source_size"] > 64 * 2**20
    assert peak < 8 * 2**20, f"complete held {peak / 2**20:.1f} MiB at its peak"


def test_parts_are_sealed_at_rest(vendor, listing):
    data = bytes(range(256)) * 8
    body = open_upload(vendor, listing, {"model.onnx": data}).json()
    send_all(vendor, body, {"model.onnx": data})
    stored = b"".join(p.read_bytes() for p in parts_dir(body["id"]).rglob("*") if p.is_file())
    assert len(stored) > len(data) and data[:64] not in stored and data[PART:PART + 64] not in stored


def test_bad_declarations_are_refused_with_what_to_do(vendor, listing, settings):
    good = {"path": "model.onnx", "size": 10, "sha256": "0" * 64}
    cases = {
        "../etc/passwd": [{**good, "path": "../etc/passwd"}],
        "absolute": [{**good, "path": "/abs"}],
        "twice": [good, good],
    }
    for name, files in cases.items():
        response = vendor.client.post(f"/api/v1/vendor/models/{listing}/uploads", {"files": files}, format="json")
        assert response.status_code == 400, name
        assert response.json()["error"]["code"] == "invalid_path", name
    settings.MODELBAY_MAX_UPLOAD_BYTES = 100
    big = vendor.client.post(f"/api/v1/vendor/models/{listing}/uploads", {"files": [{**good, "size": 101}]},
                             format="json")  # fmt: skip
    assert big.status_code == 413
    tiny_parts = vendor.client.post(f"/api/v1/vendor/models/{listing}/uploads",
                                    {"files": [good], "part_size": 10}, format="json")  # fmt: skip
    assert tiny_parts.status_code == 400 and tiny_parts.json()["error"]["code"] == "invalid_part_size"
    bad_version = vendor.client.post(f"/api/v1/vendor/models/{listing}/uploads",
                                     {"files": [good], "version": "v1"}, format="json")  # fmt: skip
    assert bad_version.status_code == 400 and "semantic version" in bad_version.json()["error"]["message"]


def test_the_default_caps_allow_a_model_well_above_14_gb():
    from config.settings import base

    assert base.MODELBAY_MAX_UPLOAD_BYTES >= 64 * 2**30
    assert base.MODELBAY_UPLOAD_MAX_PART_BYTES <= 256 * 2**20


@pytest.mark.django_db(transaction=True)
def test_the_same_part_sent_twice_at_once_is_kept_once(vendor, listing):
    import io
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from marketplace.services.uploads import upload_part_receive

    data = b"p" * 2048
    body = open_upload(vendor, listing, {"model.onnx": data}).json()

    def send(_attempt: int) -> int:
        try:
            session = UploadSession.objects.select_related("organization", "model").get(pk=body["id"])
            return upload_part_receive(session=session, file_index=0, number=1, body=io.BytesIO(data[PART:]),
                                       length=PART, sha256=sha(data[PART:])).size  # fmt: skip
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(send, range(64))) == [PART] * 64
    assert list(UploadPart.objects.values_list("file_index", "number")) == [(0, 1)]
    assert [p.name for p in (parts_dir(body["id"]) / "0").iterdir()] == ["1"]


def test_files_adding_up_to_more_than_the_scan_takes_are_refused_before_any_part_is_sent(vendor, listing, settings):
    settings.MODELBAY_SCAN_MAX_TOTAL_BYTES = 1000
    files = {"model.onnx": b"o" * 600, "model.onnx.data": b"d" * 401}  # one zip of 1001 bytes for the scan
    refused = open_upload(vendor, listing, files)
    assert refused.status_code == 413, refused.content
    error = refused.json()["error"]
    assert error["code"] == "model_too_large_to_scan" and error["details"] == {"bytes": 1001, "max_bytes": 1000}
    assert "MODELBAY_SCAN_MAX_TOTAL_BYTES" in error["message"]
    assert not UploadSession.objects.exists()
    # one file is stored as it is, not expanded by the scan: the upload cap alone applies
    assert open_upload(vendor, listing, {"model.onnx": b"o" * 1001}).status_code == 201


def test_the_session_says_while_a_complete_is_assembling_it(vendor, listing):
    from datetime import timedelta

    from django.utils import timezone

    files = {"relu.onnx": _tiny_onnx()}
    body = open_upload(vendor, listing, files).json()
    send_all(vendor, body, files)
    path = f"/api/v1/vendor/uploads/{body['id']}"
    assert vendor.client.get(path).json()["completing"] is False
    UploadSession.objects.filter(pk=body["id"]).update(completing_at=timezone.now())  # another request assembles
    assert vendor.client.get(path).json()["completing"] is True
    assert complete(vendor, body["id"]).json()["error"]["code"] == "upload_completing"
    # a complete that died mid-assembly (its process killed) stops renewing its claim, and the
    # session is free again once the lease (two minutes, not an hour) has passed
    lapsed = timezone.now() - timedelta(seconds=settings.MODELBAY_UPLOAD_COMPLETE_LEASE_SECONDS + 1)
    UploadSession.objects.filter(pk=body["id"]).update(completing_at=lapsed)
    assert vendor.client.get(path).json()["completing"] is False
    done = complete(vendor, body["id"])
    assert done.status_code == 202, done.content
    assert vendor.client.get(path).json()["status"] == "completed"
    assert complete(vendor, body["id"]).json()["version"] == done.json()["version"]  # asked again: the same


@pytest.mark.django_db(transaction=True)  # the claim's renewals commit from a thread of their own
def test_a_complete_that_outlasts_the_lease_keeps_its_claim_while_it_works(vendor, listing, settings):
    import os
    import threading
    import time

    from django.db import connection
    from django.utils import timezone

    settings.MODELBAY_UPLOAD_PART_BYTES = 8 * 2**20
    lease = settings.MODELBAY_UPLOAD_COMPLETE_LEASE_SECONDS = 0.08  # renewed every 0.02 s
    files = {"weights.bin": os.urandom(128 * 2**20), "model.onnx": _tiny_onnx()}
    body = open_upload(vendor, listing, files).json()
    send_all(vendor, body, files)
    seen, finished = [], threading.Event()

    def watch() -> None:  # what another request's claim would read, 100 times a second
        try:
            while not finished.wait(0.01):
                claimed_at = UploadSession.objects.filter(pk=body["id"]).values_list("completing_at", flat=True)[0]
                if claimed_at is not None:
                    seen.append((timezone.now(), claimed_at))
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        done = complete(vendor, body["id"])
    finally:
        finished.set()
        watcher.join()
    assert done.status_code == 202, done.content
    assert time.monotonic() - started > 3 * lease, "too quick to outlast the lease: make the upload larger"
    claims = sorted({claimed_at for _, claimed_at in seen})
    assert len(claims) >= 4  # the claim and its renewals
    assert max((now - claimed_at).total_seconds() for now, claimed_at in seen) < lease  # never lapsed
