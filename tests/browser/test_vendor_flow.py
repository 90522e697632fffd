"""A vendor signs up, lists a model, uploads it with a real progress bar, watches the pipeline
reach `ready` live, sets a license and a plan, and publishes — in real chromium, with a real
Celery worker converting the upload."""

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from playwright.sync_api import expect

from marketplace.models import License, Model, Plan
from tests.browser.conftest import screenshot, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase 42"


def two_layer_onnx(hidden: int = 4096) -> bytes:
    """y = (x @ W1) @ W2 for x of shape [-1, 4]: ~100 KB of weights, enough for several upload
    progress events on a throttled connection, yet converted in seconds."""
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((4, hidden)).astype(np.float32)
    w2 = (rng.standard_normal((hidden, 2)) / hidden).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W1"], ["h"]), helper.make_node("MatMul", ["h", "W2"], ["y"])], "two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        initializer=[numpy_helper.from_array(w1, name="W1"), numpy_helper.from_array(w2, name="W2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def test_vendor_signs_up_uploads_a_model_and_publishes_it(page, celery_worker, tmp_path):
    model_file = tmp_path / "two_layer.onnx"
    model_file.write_bytes(two_layer_onnx())

    sign_up(page, "vera@example.com", PASSWORD, "Vera Vision")
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys of Vera Vision")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Vendor portal").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your models")
    page.get_by_role("link", name="New model").click()
    page.get_by_label("Name").fill("Two Layer Regressor")
    page.get_by_label("Slug").fill("two-layer")
    page.get_by_label("Task").select_option("regression")
    page.get_by_label("Description").fill("Predicts **two numbers** from four.\n\n- fast\n- tiny")
    page.get_by_label("Tags").fill("tiny, demo")
    screenshot(page, "30-vendor-model-create")
    page.get_by_role("button", name="Create model").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Upload a version of Two Layer Regressor")

    # Slow the upstream down, so the bar has several real progress events to show.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 48 * 1024})
    page.get_by_label("Model file").set_input_files(str(model_file))
    page.get_by_role("button", name="Upload").click()
    bar = page.get_by_test_id("upload-bar")
    expect(bar).to_be_visible()
    page.wait_for_function(
        "() => document.getElementById('upload-bar') && document.getElementById('upload-bar').value > 0")
    screenshot(page, "31-vendor-upload-progress")
    expect(page).to_have_url(re.compile(r"/vendor/models/two-layer/versions/1\.0\.0/$"), timeout=30_000)
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    progress = page.evaluate("JSON.parse(sessionStorage.getItem('modelbay-upload-progress') || '[]')")
    assert progress and progress[-1] == 100, progress
    assert len(set(progress)) >= 2 and min(progress) < 100, f"the bar never moved between 0 and 100: {progress}"

    # The timeline follows the pipeline by itself, then shows the figures, all without a reload.
    page.evaluate("window.__sameDocument = true")
    status = page.get_by_test_id("version-status")
    seen = {status.inner_text()}
    screenshot(page, "32-vendor-timeline-running")
    for _ in range(600):
        text = status.inner_text()
        seen.add(text)
        if text in ("ready", "failed", "quarantined"):
            break
        assert page.evaluate("window.__sameDocument === true"), "the page reloaded while the pipeline ran"
        page.wait_for_timeout(200)
    expect(status).to_have_text("ready", timeout=120_000)
    assert len(seen) >= 2, f"the timeline never changed while watched: {seen}"
    expect(page.get_by_role("heading", name="Signature")).to_be_visible()
    expect(page.locator("[data-stage=benchmarking] .stage-time")).to_contain_text(" s")
    expect(page.get_by_role("heading", name="Benchmark: latency at batch 1 and 8")).to_be_visible()
    expect(page.locator("svg.bars.wide")).to_contain_text("batch 8")
    assert page.evaluate("window.__sameDocument === true"), "the figures came with a reload, not in place"
    screenshot(page, "33-vendor-version-ready")

    # License, then a plan with its preview, then publish.
    page.get_by_role("link", name="vera-vision.two-layer").click()
    page.get_by_role("link", name="Set a license").click()
    page.get_by_label("An open license (SPDX)").check()
    page.get_by_label("Open license", exact=True).select_option("Apache-2.0")
    expect(page.get_by_label("Commercial use allowed")).to_be_checked()  # Apache-2.0's preset
    screenshot(page, "34-vendor-license")
    page.get_by_role("button", name="Save license").click()
    expect(page.get_by_role("status").first).to_contain_text("License saved as revision 1")

    page.get_by_role("link", name="Edit plans").click()
    page.get_by_label("Name", exact=True).fill("Metered")
    page.get_by_label("Plan type").select_option("payg")
    page.get_by_label("Price per unit").fill("0.02")
    expect(page.get_by_test_id("plan-preview")).to_have_text("Pay as you go: 0.02 USD per call")
    screenshot(page, "35-vendor-plans-preview")
    page.get_by_role("button", name="Add plan").click()
    expect(page.get_by_role("region", name="What a buyer sees")).to_contain_text("Metered — Pay as you go: 0.02 USD per call")
    page.get_by_role("link", name="Back to Two Layer Regressor").click()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_test_id("model-status")).to_have_text("published")
    expect(page.get_by_role("status").first).to_contain_text("Published")
    screenshot(page, "36-vendor-model-published")

    model = Model.objects.get(slug="two-layer")
    assert (model.status, model.visibility) == ("published", "public")
    assert License.objects.get(model=model).identifier == "Apache-2.0"
    assert Plan.objects.get(model=model).unit_price_minor == 2
    page.goto("/vendor/")
    expect(page.get_by_role("row", name=re.compile("Two Layer Regressor"))).to_contain_text("published")
    screenshot(page, "37-vendor-models")
    page.goto("/catalog/")
    expect(page.get_by_test_id("model-card").filter(has_text="Two Layer Regressor")).to_be_visible()
