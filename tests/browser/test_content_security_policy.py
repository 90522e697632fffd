"""Pages work in real chromium under the Content-Security-Policy (core/middleware.py): the
`page` fixture fails a test on any refusal the console reports; these visit what the flows may
not, the Swagger UI included, and prove the policy is enforced at all."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = ["/", "/accounts/login/", "/accounts/signup/", "/catalog/", "/no/such/page/", "/admin/login/"]


def test_pages_load_without_a_policy_refusal(page, staff):
    for path in PAGES:
        response = page.goto(path)
        assert "default-src 'self'" in response.headers["content-security-policy"], path
    log_in(page, staff.user.email, PASSWORD)
    for path in ["/dashboard/", "/accounts/keys/", "/console/"]:
        page.goto(path)
        page.wait_for_load_state("networkidle")  # htmx panels and their swaps have run


def test_the_swagger_ui_renders_the_api_under_its_nonce(page):
    response = page.goto("/api/docs/")
    assert "'nonce-" in response.headers["content-security-policy"]
    expect(page.locator(".opblock").first).to_be_visible()  # the inline init script ran and loaded the schema
    expect(page.get_by_text("/api/v1/predictions").first).to_be_attached()
    # The buyer's calls come first, inside the site's layout, under a quickstart (issue #16 item 2).
    expect(page.locator(".site-header")).to_be_visible()
    expect(page.get_by_role("heading", name="Quickstart")).to_be_visible()
    expect(page.locator(".opblock-tag").first).to_contain_text("Inference (v2)")
    expect(page.get_by_text("/v2/models/{name}/infer", exact=True).first).to_be_visible()
    expect(page.get_by_text("/v1/chat/completions", exact=True).first).to_be_attached()


def test_an_injected_inline_script_is_refused_and_reported(page, csp_violations):
    page.goto("/")
    ran = page.evaluate("""() => {
      const script = document.createElement("script");
      script.textContent = "window.injected = true";
      document.body.appendChild(script);
      return window.injected === true;
    }""")
    assert ran is False
    page.wait_for_timeout(200)  # the console message arrives asynchronously
    assert any("inline script" in v for v in csp_violations), csp_violations
    csp_violations.clear()  # expected here; the fixture fails on any other
