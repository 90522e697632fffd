"""A buyer copies code from a tensor model's page and the playground in Chromium: the tabs switch
by click and arrow keys under the CSP, Copy puts the snippet on the clipboard, and the playground's
"Copy this request" gives a curl command that, with the key filled in, runs against the server."""

import json
import subprocess

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_accessibility import PROBLEMS_JS
from tests.factories import PASSWORD
from tests.inference.serving import subscribe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_buyer_switches_tabs_and_copies_snippets_and_the_request_just_run(page, live_server, buyer, tiny,
                                                                           infer_worker):
    subscribe(buyer, tiny, "payg")
    placeholder = f"{buyer.api_key.display_prefix}…"
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, buyer.user.email, PASSWORD)
    page.goto("/catalog/vendor-co/tiny/")

    curl_tab = page.get_by_role("tab", name="curl")
    python_tab = page.get_by_role("tab", name="Python")
    expect(curl_tab).to_have_attribute("aria-selected", "true")
    assert page.evaluate(PROBLEMS_JS) == []
    expect(page.get_by_test_id("tensor-code-curl")).to_be_visible()
    expect(page.get_by_test_id("tensor-code-python")).to_be_hidden()
    python_tab.click()
    expect(python_tab).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("tensor-code-python")).to_be_visible()
    expect(page.get_by_test_id("tensor-code-curl")).to_be_hidden()
    python_tab.press("ArrowRight")
    javascript_tab = page.get_by_role("tab", name="JavaScript")
    expect(javascript_tab).to_be_focused()
    expect(javascript_tab).to_have_attribute("aria-selected", "true")
    panel = page.get_by_test_id("tensor-code-javascript")
    panel.get_by_role("button", name="Copy").click()
    expect(panel.get_by_role("status")).to_have_text("Copied to the clipboard.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == panel.locator("code").text_content().strip()
    assert f'const API_KEY = "{placeholder}"' in copied and "/v2/models/vendor-co.tiny/infer" in copied
    screenshot(page, "60-model-page-code-tabs")

    page.goto("/console/playground/vendor-co/tiny/")
    expect(page.get_by_role("tab", name="Python")).to_be_visible()
    assert page.evaluate(PROBLEMS_JS) == []
    page.get_by_label("x", exact=False).fill("[[1, 2, 3, 4], [0, 0, 0, 1]]")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_test_id("outputs")).to_contain_text("shape [2, 2]")
    page.get_by_role("button", name="Copy this request").click()
    expect(page.locator("#last-request-status")).to_have_text("Copied to the clipboard.")
    request = page.evaluate("navigator.clipboard.readText()")
    assert request.startswith(f"{live_server.url}/v2/models/vendor-co.tiny/infer".join(["curl ", " \\"]))
    assert f"Bearer {placeholder}" in request and '"data":[1,2,3,4,0,0,0,1]' in request
    screenshot(page, "61-playground-copy-this-request")

    done = subprocess.run(["bash", "-c", request.replace(placeholder, buyer.secret) + " -sS"],
                          capture_output=True, text=True, timeout=60)
    [output] = json.loads(done.stdout)["outputs"]
    assert output["shape"] == [2, 2]
