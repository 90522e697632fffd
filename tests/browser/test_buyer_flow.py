"""A buyer signs up, finds a model in the catalog, tries it in the playground, subscribes with
license acceptance and payment (Stripe Checkout on the local stand-in), creates an API key and
sees its calls on the usage page — in real chromium, with a real Celery inference worker."""

import json
import re
import urllib.request

import pytest
from playwright.sync_api import expect

from marketplace.models import Entitlement, LicenseAcceptance
from tests.browser.conftest import screenshot, sign_up
from tests.factories import published_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase 42"


def call_api(base_url: str, secret: str, data: list[float]) -> tuple[int, dict, dict]:
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": data}]}).encode()
    request = urllib.request.Request(f"{base_url}/v2/models/vendor-co.tiny/infer", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the live test server
        return response.status, dict(response.headers), json.loads(response.read())


def test_buyer_finds_tries_subscribes_pays_and_sees_usage(page, live_server, vendor, celery_worker, stripe_standin):
    published_model(vendor.organization, "tiny", commercial_use=True)

    sign_up(page, "bea@example.com", PASSWORD, "Bea Labs")
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys of Bea Labs")

    # Find it in the catalog.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalog").click()
    page.get_by_label("Search").fill("tiny")
    page.get_by_label("Commercial use").select_option("true")
    page.get_by_role("button", name="Search").click()
    card = page.get_by_test_id("model-card").filter(has_text="Tiny")
    expect(card).to_contain_text("Tiny EULA · commercial")
    screenshot(page, "40-catalog")
    card.get_by_role("link", name="Tiny").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tiny")
    expect(page.get_by_role("region", name="Full license text: Tiny EULA")).to_contain_text("You may use it.")
    expect(page.get_by_role("region", name="License and plans")).to_contain_text("Pay as you go: 0.02 USD per call")
    screenshot(page, "41-catalog-model")

    # The playground calls the real API: before subscribing, the API refuses and says how to accept.
    page.get_by_role("link", name="Try it in the playground").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Playground: Tiny")
    expect(page.get_by_text("has not subscribed to this model yet")).to_be_visible()
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#playground-error")).to_contain_text("HTTP 403")

    # Subscribe: declare use and territory, read and accept the license, choose the plan, pay.
    page.get_by_role("link", name="Accept the license and choose a plan").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Subscribe to Tiny")
    expect(page.get_by_label("Full license text")).to_contain_text("You may use it.")
    page.get_by_role("radio", name=re.compile("^Commercial:")).check()
    page.get_by_label("Country of use").select_option("DE")
    page.get_by_label(re.compile("Payg — Pay as you go")).check()
    page.get_by_label("I have read the license above and accept it").check()
    screenshot(page, "42-console-subscribe")
    page.get_by_role("button", name="Accept and subscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save a card for future payments")  # Stripe stand-in
    assert page.url.startswith(stripe_standin.base_url)
    screenshot(page, "43-stripe-checkout-standin")
    page.locator("#submit").click()
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.get_by_role("status").first).to_contain_text("Payment method saved. You are subscribed to Tiny")
    expect(page.get_by_role("region", name="Subscriptions").get_by_role("row", name=re.compile("Tiny"))).to_contain_text("active")
    screenshot(page, "44-console-subscriptions")
    acceptance = LicenseAcceptance.objects.get(organization__slug="bea-labs")
    assert (acceptance.declared_use, acceptance.territory, acceptance.accepted_by_email) == (
        "commercial", "DE", "bea@example.com")
    assert Entitlement.objects.get(organization__slug="bea-labs").status == "active"
    assert "checkout.session.completed" in {e["type"] for e in stripe_standin.state()["events"]}

    # Now the playground answers, with the usage receipt.
    page.get_by_role("link", name=re.compile("Playground")).first.click()
    page.get_by_label(re.compile(r"^x ")).fill("[[1, 2, 3, 4]]")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_test_id("outputs")).to_contain_text("[3.125,29.25]")
    expect(page.locator("#receipt-units")).to_have_text("4")
    expect(page.get_by_test_id("units-note")).to_contain_text("your plan bills per call, not per unit")
    expect(page.locator("#receipt-cost")).not_to_have_text("—")
    screenshot(page, "45-console-playground")
    # A failed run takes the previous result and receipt off the screen: they answered other inputs.
    page.get_by_label(re.compile(r"^x ")).fill("[[1, 2, 3]]")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#playground-error")).to_contain_text("HTTP 4")
    expect(page.get_by_test_id("outputs")).to_be_hidden()
    expect(page.get_by_test_id("receipt")).to_be_hidden()
    expect(page.locator("#receipt-units")).to_have_text("")

    # An API key of their own, and a call from "their backend".
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("backend")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-secret").inner_text()
    status, headers, body = call_api(live_server.url, secret, [1, 0, 0, 0])
    assert status == 200 and body["outputs"][0]["data"] == [0.125, -2.5]
    assert headers["X-Modelbay-Units"] == "4"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Console").click()
    page.get_by_role("link", name="Usage and limits").click()
    totals = page.get_by_test_id("usage-totals")
    expect(totals.get_by_role("row", name=re.compile("vendor-co.tiny"))).to_contain_text("2")
    expect(page.get_by_test_id("calls-gauge")).to_contain_text("2")
    page.get_by_label("Monthly spend cap").fill("10.00")
    page.get_by_role("button", name="Save limits").click()
    expect(page.get_by_test_id("spend-gauge")).to_contain_text("of the 10.00 USD cap")
    screenshot(page, "46-console-usage")
    page.get_by_role("link", name="Invoices").click()
    screenshot(page, "47-console-invoices")
    page.get_by_role("link", name="Your data").click()
    expect(page.get_by_role("button", name="Erase Bea Labs")).to_be_visible()
    screenshot(page, "48-console-data")
