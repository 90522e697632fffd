"""Staff watch the marketplace KPIs and suspend a listing; the buyer no longer finds it and the
vendor reads the reason — in real chromium, with a real Celery inference worker."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.services.invoices import local_invoice_issue
from marketplace.services.entitlements import entitlement_subscribe
from tests.browser.conftest import log_in, screenshot
from tests.factories import PASSWORD, published_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = "The benchmark claims on this page could not be reproduced"


def infer(persona):
    return persona.client.post("/v2/models/vendor-co.tiny/infer", {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}, format="json")


def test_staff_sees_kpis_and_suspends_a_listing_the_buyer_then_cannot_find(
        page, browser, live_server, staff, vendor, buyer, celery_worker):
    model = published_model(vendor.organization, "tiny")
    entitlement_subscribe(organization=buyer.organization, user=buyer.user, model=model,
                          plan_id=model.plans.get().pk, declared_use="commercial", territory="DE")
    assert infer(buyer).status_code == 200
    # Close the buyer's period in local-ledger mode: an invoice, and the vendor's earning from it.
    now = timezone.now()
    local_invoice_issue(organization=buyer.organization, period_start=now - timedelta(days=1),
                        period_end=now + timedelta(seconds=1))

    log_in(page, staff.user.email, PASSWORD)
    page.goto("/dashboard/")
    cards = page.get_by_test_id("kpi")
    expect(cards.filter(has_text="Calls today")).to_contain_text("1")
    expect(cards.filter(has_text="Revenue this month")).to_contain_text("0.02 USD")
    expect(cards.filter(has_text="Active buyers")).to_contain_text("1")
    expect(cards.filter(has_text="Active vendors")).to_contain_text("1")
    expect(cards.filter(has_text="Conversion success rate")).to_be_visible()
    expect(cards.filter(has_text="p95 latency")).to_contain_text("ms")
    expect(page.get_by_text("not wired yet")).to_have_count(0)
    expect(page.get_by_role("region", name="Failed and quarantined versions")).to_contain_text(
        "No failed or quarantined versions.")
    expect(page.get_by_role("region", name="Reconciliation runs")).to_be_visible()
    screenshot(page, "50-staff-dashboard-marketplace")

    moderation = page.get_by_role("region", name="Listing moderation")
    row = moderation.get_by_test_id("moderation-row").filter(has_text="vendor-co.tiny")
    row.get_by_label("Reason for vendor-co.tiny").fill(REASON)
    row.get_by_role("button", name=re.compile("Suspend")).click()
    expect(page.get_by_role("status").first).to_contain_text("vendor-co.tiny is suspended")
    expect(page.get_by_role("region", name="Listing moderation").get_by_test_id("moderation-row")
           .filter(has_text="vendor-co.tiny")).to_contain_text("suspended")
    screenshot(page, "51-staff-listing-suspended")

    # The buyer no longer finds it, and the API stops serving it.
    buyer_context = browser.new_context(base_url=live_server.url)
    buyer_page = buyer_context.new_page()
    log_in(buyer_page, buyer.user.email, PASSWORD)
    buyer_page.goto("/catalog/?q=tiny")
    expect(buyer_page.get_by_text("No model matches")).to_be_visible()
    assert buyer_page.goto("/catalog/vendor-co/tiny/").status == 404
    screenshot(buyer_page, "52-buyer-catalog-after-suspension")
    buyer_page.goto("/console/invoices/")
    invoice_row = buyer_page.get_by_role("row", name=re.compile("LOCAL-buyer-co"))
    expect(invoice_row).to_contain_text("vendor-co.tiny 0.02 USD")
    screenshot(buyer_page, "47-console-invoices-with-one")
    buyer_context.close()
    assert infer(buyer).status_code == 404

    # The vendor reads the reason on the model page.
    vendor_context = browser.new_context(base_url=live_server.url)
    vendor_page = vendor_context.new_page()
    log_in(vendor_page, vendor.user.email, PASSWORD)
    vendor_page.goto("/vendor/models/tiny/")
    expect(vendor_page.get_by_test_id("suspended-reason")).to_have_text(REASON)
    expect(vendor_page.get_by_role("button", name="Publish")).to_have_count(0)
    screenshot(vendor_page, "53-vendor-sees-suspension")
    vendor_page.goto("/vendor/earnings/")
    expect(vendor_page.get_by_role("region", name="Calls per day by model")).to_contain_text("tiny: 1 in 30 days")
    expect(vendor_page.get_by_role("region", name="Payouts").get_by_role("row").nth(1)).to_contain_text("0.02 USD")
    screenshot(vendor_page, "38-vendor-earnings")
    vendor_context.close()

    # Approving it again lets the vendor publish once more.
    page.get_by_role("region", name="Listing moderation").get_by_role(
        "button", name=re.compile("Approve again")).click()
    expect(page.get_by_role("status").first).to_contain_text("approved again")
