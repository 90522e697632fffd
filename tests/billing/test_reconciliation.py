"""Reconciliation: Stripe's meter totals against the ledger, gaps fixed, runs shown to staff."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.models import ReconciliationRun, StripeCustomer, StripePrice, UsageWindow
from billing.services.reconciliation import reconciliation_run
from billing.services.subscription_sync import stripe_objects_sync
from billing.services.usage_sync import usage_sync
from tests.billing.stripe_support import call, later, meter_total, model_with_plan, subscribe
from tests.inference.serving import fresh_serving_caches  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_serving_caches")


@pytest.fixture
def metered(vendor, buyer, stripe_standin):
    model, plan = model_with_plan(vendor.organization, "tiny", unit_price_minor=2)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync()
    price = StripePrice.objects.get(plan=plan)

    def total():
        customer = StripeCustomer.objects.get(organization=buyer.organization).stripe_id
        return meter_total(stripe_standin, price.event_name, customer)

    return {"entitlement": entitlement, "total": total, "price": price}


def test_late_usage_in_a_sent_hour_is_sent_as_a_correction(metered, buyer):
    for _ in range(3):
        call(buyer, metered["entitlement"])
    usage_sync(now=later())
    for _ in range(2):  # committed after its hour's window went out
        call(buyer, metered["entitlement"])
    usage_sync(now=later())
    assert metered["total"]() == 3
    run = reconciliation_run(now=later())
    assert run.status == ReconciliationRun.Status.OK and run.fixed == 1
    assert [(d["local"], d["stripe"], d["action"]) for d in run.differences] == [("5.000000", "3", "sent correction")]
    assert metered["total"]() == 5
    again = reconciliation_run(now=later())
    assert again.differences == [] and again.fixed == 0 and metered["total"]() == 5
    assert set(UsageWindow.objects.values_list("state", flat=True)) == {UsageWindow.State.CONFIRMED}


@pytest.mark.parametrize("mode, in_stripe", [("drop_after_commit", 1), ("error_500", 0)])
def test_a_window_unanswered_past_a_day_is_decided_by_stripes_totals(metered, buyer, stripe_standin, mode, in_stripe):
    call(buyer, metered["entitlement"])
    stripe_standin.add_fault("/v1/billing/meter_events", mode, count=3)
    usage_sync(now=later())
    assert metered["total"]() == in_stripe and UsageWindow.objects.get().state == UsageWindow.State.PENDING
    a_day_later = later() + timedelta(hours=24)
    assert usage_sync(now=a_day_later)["sent"] == 0  # never re-sent blindly
    run = reconciliation_run(now=a_day_later, hours=48)
    assert metered["total"]() == 1  # counted exactly once either way
    first = UsageWindow.objects.get(seq=0)
    if in_stripe:
        assert run.differences == [] and first.state == UsageWindow.State.CONFIRMED
    else:
        assert run.fixed == 1 and first.state == UsageWindow.State.SUPERSEDED
        assert UsageWindow.objects.get(seq=1).state == UsageWindow.State.SENT


def test_stripe_counting_more_than_the_ledger_is_reported_not_fixed(metered, buyer, stripe_standin):
    call(buyer, metered["entitlement"])
    usage_sync(now=later())
    customer = StripeCustomer.objects.get(organization=buyer.organization).stripe_id
    window = UsageWindow.objects.get()
    stripe_standin.client().v1.billing.meter_events.create({  # someone else reported usage
        "event_name": metered["price"].event_name, "identifier": "manual-1", "timestamp": window.timestamp,
        "payload": {"stripe_customer_id": customer, "value": "2"}})
    run = reconciliation_run(now=later())
    assert run.status == ReconciliationRun.Status.DIFFERENCES
    assert [(d["difference"], d["action"][:34]) for d in run.differences] == [
        ("-2.000000", "Stripe counts more than the ledger")]
    assert metered["total"]() == Decimal(3)


def test_staff_read_and_start_reconciliation_runs(metered, buyer, staff):
    call(buyer, metered["entitlement"])
    assert buyer.client.get("/api/v1/ops/reconciliation").status_code == 403
    assert buyer.client.post("/api/v1/ops/reconciliation", {}, format="json").status_code == 403
    staff.client.force_authenticate(user=staff.user)  # staff use the dashboard session
    response = staff.client.post("/api/v1/ops/reconciliation", {"hours": 24}, format="json")
    assert response.status_code == 201 and response.json()["status"] == "ok"
    runs = staff.client.get("/api/v1/ops/reconciliation").json()
    assert runs["stripe_configured"] and [r["id"] for r in runs["runs"]] == [response.json()["id"]]
