"""The portal's upload page speaks the multipart protocol (issue #15 item 3), in real chromium: a
file sent in small parts survives a page reload and a lost connection, sending only the parts the
server lacks, and reaches the pipeline; Pause stops sending, Cancel deletes the session."""

import hashlib
import json
import re
import struct

import pytest
from playwright.sync_api import expect

from marketplace.models import Model, ModelVersion, UploadPart, UploadSession
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_vendor_flow import two_layer_onnx
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PART = 16 * 1024
PART_URL = re.compile(r"/api/v1/vendor/uploads/[0-9a-f-]+/files/(\d+)/parts/(\d+)$")


@pytest.fixture
def small_parts(settings):
    settings.MODELBAY_UPLOAD_MIN_PART_BYTES = 1024
    settings.MODELBAY_UPLOAD_PART_BYTES = PART


@pytest.fixture
def listing(vendor):
    return Model.objects.create(organization=vendor.organization, slug="resumable", name="Resumable")


def throttle(page, bytes_per_second: int, *, offline: bool = False, cdp=None):
    """Slow the upstream, so an upload is still running when the test interrupts it; `offline`
    drops the connection (on the same DevTools session, which would otherwise override it)."""
    cdp = cdp or page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": offline, "latency": 20, "downloadThroughput": -1, "uploadThroughput": bytes_per_second})
    return cdp


def sent_parts(page) -> list[tuple[int, int]]:
    """Every part PUT the page starts, in order (watched from the browser side)."""
    sent: list[tuple[int, int]] = []

    def watch(request) -> None:
        match = PART_URL.search(request.url)
        if request.method == "PUT" and match:
            sent.append((int(match.group(1)), int(match.group(2))))
    page.on("request", watch)
    return sent


def present(session: UploadSession) -> set[int]:
    return set(UploadPart.objects.filter(session=session).values_list("number", flat=True))


def test_an_upload_resumes_after_a_reload_and_a_lost_connection_and_reaches_the_pipeline(
        page, vendor, listing, small_parts, celery_worker, tmp_path):
    model_file = tmp_path / "two_layer.onnx"
    model_file.write_bytes(two_layer_onnx(hidden=16384))  # ~390 KB: 24 parts
    parts = -(-model_file.stat().st_size // PART)
    assert parts >= 20
    log_in(page, vendor.user.email, PASSWORD)
    page.goto("/vendor/models/resumable/upload/")
    cdp = throttle(page, 24 * 1024)  # one DevTools session for the whole test: a second would override it
    page.get_by_label("Model file").set_input_files(str(model_file))
    page.get_by_role("button", name="Upload").click()

    session = None
    for _ in range(300):  # until two parts are on the server
        session = UploadSession.objects.filter(model=listing).first()
        if session and len(present(session)) >= 2:
            break
        page.wait_for_timeout(100)
    assert session is not None and len(present(session)) >= 2
    page.reload()  # the tab is reloaded mid-upload: the page remembers nothing but the session id
    kept = present(session)
    assert len(kept) < parts
    note = page.get_by_test_id("upload-resume-note")
    expect(note).to_contain_text("two_layer.onnx")
    expect(note).to_contain_text("Choose the same file again")
    screenshot(page, "3c-vendor-upload-resume-note")

    sent = sent_parts(page)
    page.get_by_label("Model file").set_input_files(str(model_file))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-status")).to_contain_text("Uploading")

    throttle(page, 24 * 1024, offline=True, cdp=cdp)  # the connection drops mid-upload
    expect(page.locator("#upload-status")).to_contain_text("connection lost, retrying", timeout=20_000)
    screenshot(page, "3d-vendor-upload-offline")
    throttle(page, -1, cdp=cdp)

    expect(page).to_have_url(re.compile(r"/vendor/models/resumable/versions/1\.0\.0/$"), timeout=60_000)
    resent = {number for _file, number in sent} & kept
    assert not resent, f"parts the server had before the reload were sent again: {sorted(resent)}"
    session.refresh_from_db()
    assert session.status == UploadSession.Status.COMPLETED
    version = ModelVersion.objects.get(model=listing, version="1.0.0")
    assert version.source_sha256 == hashlib.sha256(model_file.read_bytes()).hexdigest()
    expect(page.get_by_test_id("version-status")).to_have_text("ready", timeout=120_000)


def test_pause_stops_sending_and_cancel_deletes_the_upload(page, vendor, listing, small_parts, tmp_path):
    model_file = tmp_path / "two_layer.onnx"
    model_file.write_bytes(two_layer_onnx())
    log_in(page, vendor.user.email, PASSWORD)
    page.goto("/vendor/models/resumable/upload/")
    throttle(page, 16 * 1024)
    sent = sent_parts(page)
    page.get_by_label("Model file").set_input_files(str(model_file))
    page.get_by_role("button", name="Upload").click()
    session = None
    for _ in range(300):  # until a part is on the server
        session = UploadSession.objects.filter(model=listing).first()
        if session and present(session):
            break
        page.wait_for_timeout(100)

    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#upload-status")).to_contain_text("Paused at")
    started = len(sent)
    page.wait_for_timeout(2500)
    assert len(sent) == started, "parts were sent while paused"
    assert present(session), "the parts sent before the pause are kept"
    screenshot(page, "3e-vendor-upload-paused")

    page.get_by_role("button", name="Resume").click()
    for _ in range(200):  # sending again
        if len(sent) > started:
            break
        page.wait_for_timeout(50)
    assert len(sent) > started, "Resume did not send anything"

    page.get_by_role("button", name="Cancel upload").click()
    expect(page.locator("#upload-status")).to_contain_text("Upload cancelled")
    session.refresh_from_db()
    assert session.status == UploadSession.Status.CANCELLED
    assert not present(session)
    assert not listing.versions.exists()
    expect(page.get_by_role("button", name="Pause")).to_be_hidden()
    page.reload()
    expect(page.get_by_test_id("upload-resume-note")).to_be_hidden()


def test_the_files_of_a_hugging_face_folder_chosen_together_become_one_version(page, vendor, listing, small_parts,
                                                                              tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    header = json.dumps({"w": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}}).encode()
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4096))
    log_in(page, vendor.user.email, PASSWORD)
    page.goto("/vendor/models/resumable/upload/")
    page.get_by_label("Model file").set_input_files([str(config), str(weights)])
    page.get_by_role("button", name="Upload").click()

    expect(page).to_have_url(re.compile(r"/vendor/models/resumable/versions/1\.0\.0/$"))
    session = UploadSession.objects.get(model=listing)
    assert sorted(f["path"] for f in session.files) == ["config.json", "model.safetensors"]
    assert ModelVersion.objects.get(model=listing, version="1.0.0").source_format == "hf_zip"


def test_a_complete_whose_answer_a_proxy_cuts_off_is_asked_again_and_reaches_the_version(
        page, vendor, listing, small_parts, tmp_path):
    from core.redis import get_redis

    model_file = tmp_path / "two_layer.onnx"
    model_file.write_bytes(two_layer_onnx())
    cut: list[str] = []

    def proxy_gives_up(route) -> None:
        if cut:
            route.continue_()
            return
        route.fetch()  # the server assembles and answers, but the proxy in front had given up
        cut.append(route.request.url)
        route.fulfill(status=504, content_type="text/html", body="<h1>504 Gateway Time-out</h1>")

    page.route(re.compile(r"/api/v1/vendor/uploads/[0-9a-f-]+/complete$"), proxy_gives_up)
    log_in(page, vendor.user.email, PASSWORD)
    page.goto("/vendor/models/resumable/upload/")
    page.get_by_label("Model file").set_input_files(str(model_file))
    page.get_by_role("button", name="Upload").click()

    expect(page).to_have_url(re.compile(r"/vendor/models/resumable/versions/1\.0\.0/$"), timeout=30_000)
    get_redis().delete("convert")  # no worker here; leave no pipeline message for later tests
    assert len(cut) == 1
    assert ModelVersion.objects.filter(model=listing).count() == 1
    assert UploadSession.objects.get(model=listing).status == UploadSession.Status.COMPLETED
