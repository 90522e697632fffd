"""Local-ledger mode (no STRIPE_API_KEY): nothing calls Stripe, invoices come from the ledger,
earnings accrue; and the same usage costs the same as on the Stripe path."""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from billing.models import (
    Invoice,
    InvoiceLine,
    StripeSubscription,
    Transfer,
    UsageWindow,
    VendorEarning,
)
from billing.services.invoices import local_invoice_issue, local_invoice_lines
from billing.services.reconciliation import reconciliation_run
from billing.services.subscription_sync import stripe_objects_sync
from billing.services.usage_sync import usage_sync
from billing.stripe_client import stripe_client
from tests.billing.stripe_support import (
    bill_period,
    call,
    deliver_all,
    later,
    model_with_plan,
    process_received,
    subscribe,
)
from tests.inference.serving import fresh_serving_caches  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_serving_caches")

PLANS = {
    "per-call": {"unit_price_minor": 3},
    "per-1k-units": {"unit": "1k_units", "unit_price_minor": 7},
    "per-second": {"unit": "compute_second", "unit_price_minor": 50},
    "monthly": {"kind": "subscription", "monthly_fee_minor": 900, "included_calls": 5, "overage_price_minor": 4},
}


def buy_everything(vendor, buyer, seed: int = 7):
    """The buyer subscribes to four models (one per pricing dimension) and calls them."""
    rng = random.Random(seed)
    entitlements = []
    for slug, terms in PLANS.items():
        model, plan = model_with_plan(vendor.organization, slug, **terms)
        entitlements.append(subscribe(buyer, model, plan))
    return entitlements, rng


def make_calls(buyer, entitlements, rng) -> None:
    for _ in range(40):
        call(buyer, rng.choice(entitlements), units=rng.randint(1, 5000), compute_ms=rng.uniform(0.5, 900))


def test_local_ledger_mode_invoices_from_the_ledger_without_stripe(vendor, buyer, settings):
    settings.STRIPE_API_KEY = ""
    assert stripe_client() is None
    entitlements, rng = buy_everything(vendor, buyer)
    make_calls(buyer, entitlements, rng)
    assert usage_sync(now=later()) == {"built": 0, "sent": 0, "failed": 0}
    assert UsageWindow.objects.count() == 0 and StripeSubscription.objects.count() == 0
    run = reconciliation_run()
    assert run.status == "ok" and "not configured" in run.error
    start = timezone.now() - timedelta(days=1)
    (invoice,) = local_invoice_issue(organization=buyer.organization, period_start=start,
                                     period_end=start + timedelta(days=30))
    again = local_invoice_issue(organization=buyer.organization, period_start=start,
                                period_end=start + timedelta(days=30))
    assert [i.pk for i in again] == [invoice.pk] and Invoice.objects.count() == 1
    assert invoice.source == "local" and invoice.total_minor == sum(line.amount_minor for line in invoice.lines.all())
    assert invoice.lines.filter(kind=InvoiceLine.Kind.FEE).get().amount_minor == 900
    earning = VendorEarning.objects.get()
    assert earning.gross_minor == invoice.total_minor and earning.transfer.status == Transfer.Status.NOT_APPLICABLE
    listed = buyer.client.get("/api/v1/billing/invoices").json()["results"]
    assert [i["total_minor"] for i in listed] == [invoice.total_minor]
    assert sum(m["amount_minor"] for m in listed[0]["by_model"]) == invoice.total_minor
    assert {m["model"] for m in listed[0]["by_model"]} == {f"vendor-co.{slug}" for slug in PLANS}
    days = buyer.client.get("/api/v1/billing/usage").json()["days"]
    assert sum(d["calls"] for d in days) == 40
    assert vendor.client.post("/api/v1/vendor/payouts/onboarding", {}, format="json").status_code == 503
    assert buyer.client.post("/api/v1/billing/checkout", {}, format="json").status_code == 503


@pytest.mark.parametrize("seed", [7, 11])
def test_local_ledger_bills_the_same_amounts_as_stripe(vendor, buyer, stripe_standin, seed):
    entitlements, rng = buy_everything(vendor, buyer, seed)
    stripe_objects_sync()
    make_calls(buyer, entitlements, rng)
    usage_sync(now=later())
    start = len(stripe_standin.events())
    bill_period(stripe_standin)
    deliver_all(stripe_standin, after=0)
    process_received()
    stripe_usage: dict[str, int] = defaultdict(int)
    stripe_fees: dict[str, int] = defaultdict(int)
    periods = []
    for invoice in Invoice.objects.filter(source="stripe"):
        for line in invoice.lines.all():
            target = stripe_fees if line.kind == InvoiceLine.Kind.FEE else stripe_usage
            if line.kind == InvoiceLine.Kind.FEE and invoice.period_start != invoice.period_end:
                continue  # the cycle invoice bills the next month's fee in advance
            target[line.model.slug] += line.amount_minor
        periods.append((invoice.period_start, invoice.period_end))
    assert len(stripe_standin.events()) > start and stripe_usage
    period_start = min(p[0] for p in periods)
    period_end = max(p[1] for p in periods)
    local_usage: dict[str, int] = defaultdict(int)
    local_fees: dict[str, int] = defaultdict(int)
    for line in local_invoice_lines(organization=buyer.organization, period_start=period_start,
                                    period_end=period_end):
        target = local_fees if line["kind"] == InvoiceLine.Kind.FEE else local_usage
        target[line["plan"].model.slug] += line["amount_minor"]
    assert dict(local_usage) == dict(stripe_usage) and set(local_usage) == set(PLANS)
    assert dict(local_fees) == dict(stripe_fees) == {"monthly": 900}
    assert sum(local_usage.values()) == sum(stripe_usage.values()) > 0
    assert period_end > datetime.now(tz=UTC)  # the Stripe period ran on the stand-in's advanced clock


def test_month_end_invoices_every_buyer_once_and_only_its_own(vendor, buyer, outsider, settings):
    from billing.services.invoices import local_invoices_close

    settings.STRIPE_API_KEY = ""
    entitlements, rng = buy_everything(vendor, buyer)
    make_calls(buyer, entitlements, rng)
    start = timezone.now() - timedelta(days=2)
    assert local_invoices_close(period_start=start, period_end=start + timedelta(days=30)) == 1
    assert local_invoices_close(period_start=start, period_end=start + timedelta(days=30)) == 1
    assert Invoice.objects.count() == 1
    assert outsider.client.get("/api/v1/billing/invoices").json()["results"] == []
    assert outsider.client.get("/api/v1/billing/usage").json()["days"] == []
    from tests.conftest import make_persona

    no_billing = make_persona("keyless-co", scopes=["inference"])
    assert no_billing.client.get("/api/v1/billing/invoices").status_code == 403
