"""The invoices page: the amount per model, and why an invoice bills less than the usage shown."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import Invoice
from billing.services.invoices import local_invoice_issue
from tests.billing.stripe_support import call, model_with_plan, subscribe

pytestmark = pytest.mark.django_db


def _row(html: str, number: str) -> str:
    return re.search(rf"<tr>\s*<td>{number}</td>.*?</tr>", html, re.DOTALL)[0]


def test_invoice_names_each_model_and_says_why_sub_cent_usage_is_billed_zero(client, buyer, vendor, settings):
    settings.STRIPE_API_KEY = ""
    for slug in ("alpha", "beta"):  # 60 units at 0.07 cents per 1,000 = 0.0042 USD a call on each model
        model, plan = model_with_plan(vendor.organization, slug, unit="1k_units", unit_price_minor=7)
        call(buyer, subscribe(buyer, model, plan), units=60)
    start = timezone.now() - timedelta(days=1)
    local_invoice_issue(organization=buyer.organization, period_start=start, period_end=start + timedelta(days=2))
    client.force_login(buyer.user)
    row = _row(client.get("/console/invoices/").content.decode(), "LOCAL-buyer-co-[0-9]+")
    assert "<code>vendor-co.alpha</code> 0.00 USD" in row and "<code>vendor-co.beta</code> 0.00 USD" in row
    assert "Usage in this period came to 0.0084 USD, billed as 0.00 USD" in row
    assert "a line worth less than half a cent is not charged and is not carried over" in row
    # The usage page rounds the same 0.0084 USD to 0.01: the note is what reconciles the two.
    assert "0.01 USD" in client.get("/console/usage/").content.decode()


def test_invoice_billing_all_its_usage_has_no_note(client, buyer, vendor, settings):
    settings.STRIPE_API_KEY = ""
    model, plan = model_with_plan(vendor.organization, "tiny", unit_price_minor=2)
    call(buyer, subscribe(buyer, model, plan))
    start = timezone.now() - timedelta(days=1)
    local_invoice_issue(organization=buyer.organization, period_start=start, period_end=start + timedelta(days=2))
    client.force_login(buyer.user)
    row = _row(client.get("/console/invoices/").content.decode(), "LOCAL-buyer-co-[0-9]+")
    assert "<code>vendor-co.tiny</code> 0.02 USD" in row
    assert 'data-testid="invoice-note"' not in row


def test_invoice_without_lines_says_usage_is_billed_in_arrears(client, buyer):
    now = timezone.now()
    Invoice.objects.create(organization=buyer.organization, source=Invoice.Source.STRIPE, stripe_id="in_open",
                           number="OPEN-1", status=Invoice.Status.PAID, currency="usd", period_start=now,
                           period_end=now)
    client.force_login(buyer.user)
    row = _row(client.get("/console/invoices/").content.decode(), "OPEN-1")
    assert "metered usage is billed in arrears, on the invoice that closes the billing period" in row
