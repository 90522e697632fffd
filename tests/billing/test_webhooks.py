"""Stripe webhooks: verified, stored once, processed once, in any order (SECURITY.md 22-23)."""

import json
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import Invoice, StripeEvent, Transfer, VendorEarning
from billing.services.subscription_sync import stripe_objects_sync
from billing.services.usage_sync import usage_sync
from billing.tasks import webhook_events_retry
from core.redis import get_redis
from tests.billing.stripe_support import (
    WEBHOOK_PATH,
    bill_period,
    call,
    deliver,
    later,
    model_with_plan,
    onboard,
    process_received,
    signature,
    subscribe,
)
from tests.conftest import STRIPE_WEBHOOK_TEST_SECRET
from tests.inference.serving import fresh_serving_caches  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_serving_caches")


@pytest.fixture
def paid_cycle(vendor, buyer, stripe_standin):
    """10 calls at 2 cents, synced, then a billing cycle: a 20-cent invoice, paid by card."""
    model, plan = model_with_plan(vendor.organization, "tiny", unit_price_minor=2)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync()
    onboard(vendor, stripe_standin)
    for _ in range(10):
        call(buyer, entitlement)
    usage_sync(now=later())
    start = len(stripe_standin.events())
    (invoice_id,) = bill_period(stripe_standin)
    return {"invoice": invoice_id, "events": stripe_standin.events()[start:]}


def test_bad_signature_is_refused_and_changes_nothing(api_client_anon, paid_cycle):
    event = next(e for e in paid_cycle["events"] if e["type"] == "invoice.paid")
    payload = json.dumps(event)
    tampered = payload.replace('"amount_paid": 20', '"amount_paid": 2')
    events_before = StripeEvent.objects.count()  # the vendor's onboarding event
    attempts = [
        {"HTTP_STRIPE_SIGNATURE": signature(payload, "whsec_someone_else")},
        {"HTTP_STRIPE_SIGNATURE": signature(payload, at=1_000_000_000)},  # replayed from long ago
        {"HTTP_STRIPE_SIGNATURE": "t=1,v1=deadbeef"},
        {},
    ]
    for headers in attempts:
        response = api_client_anon.post(WEBHOOK_PATH, data=payload, content_type="application/json", **headers)
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_signature"
    header = signature(payload)
    response = api_client_anon.post(WEBHOOK_PATH, data=tampered, content_type="application/json",
                                    HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 400
    assert StripeEvent.objects.count() == events_before and Invoice.objects.count() == 0 and VendorEarning.objects.count() == 0


def test_duplicate_webhook_is_processed_once(paid_cycle, vendor):
    for event in paid_cycle["events"]:
        assert deliver(event).status_code == 200
    again = [deliver(e).json() for e in paid_cycle["events"]]
    assert all(body["duplicate"] for body in again)
    assert StripeEvent.objects.filter(id__in=[e["id"] for e in paid_cycle["events"]]).count() == len(
        paid_cycle["events"])
    process_received()
    process_received()
    invoice = Invoice.objects.get(stripe_id=paid_cycle["invoice"])
    assert invoice.status == "paid" and invoice.total_minor == 20
    earning = VendorEarning.objects.get()
    assert (earning.gross_minor, earning.fee_minor, earning.net_minor) == (20, 4, 16)
    assert Transfer.objects.get().status == Transfer.Status.SENT


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_out_of_order_webhooks_end_in_the_right_state(paid_cycle, stripe_standin, seed):
    events = list(paid_cycle["events"])
    random.Random(seed).shuffle(events)
    events.sort(key=lambda e: e["type"] != "invoice.paid")  # the newest news first, the oldest last
    for event in events:
        deliver(event)
        process_received()  # each one handled as it arrives
    invoice = Invoice.objects.get(stripe_id=paid_cycle["invoice"])
    assert invoice.status == "paid" and invoice.amount_paid_minor == 20 and invoice.number
    assert [line.amount_minor for line in invoice.lines.all()] == [20]
    assert VendorEarning.objects.count() == 1
    transfers = stripe_standin.client().v1.transfers.list({"transfer_group": paid_cycle["invoice"]}).data
    assert len(transfers) == 1 and transfers[0].amount == 16
    assert StripeEvent.objects.exclude(status=StripeEvent.Status.PROCESSED).count() == 0


def test_stripe_ending_a_subscription_suspends_the_entitlement(vendor, buyer, stripe_standin):
    from billing.models import StripeSubscription
    from marketplace.models import Entitlement

    model, plan = model_with_plan(vendor.organization, "tiny", unit_price_minor=2)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync()
    start = len(stripe_standin.events())
    stripe_standin.client().v1.subscriptions.cancel(StripeSubscription.objects.get().stripe_id)
    from tests.billing.stripe_support import deliver_all

    deliver_all(stripe_standin, after=start)
    process_received()
    entitlement.refresh_from_db()
    assert entitlement.status == Entitlement.Status.SUSPENDED
    assert StripeSubscription.objects.get().status == "canceled"


def test_meter_errors_reported_by_stripe_are_noted_and_reconciled(vendor, buyer, stripe_standin):
    from billing.models import StripePrice, UsageWindow
    from billing.services.reconciliation import reconciliation_run
    from tests.billing.stripe_support import deliver_all

    model, plan = model_with_plan(vendor.organization, "tiny", unit_price_minor=2)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync()
    call(buyer, entitlement)
    usage_sync(now=later())
    window = UsageWindow.objects.get()
    # Stripe later rejects the event (as with a customer deleted meanwhile): simulate its report
    # by sending one rejected event under our identifier scheme and delivering the report.
    start = len(stripe_standin.events())
    stripe_standin.client().v1.billing.meter_events.create({
        "event_name": StripePrice.objects.get().event_name, "identifier": window.identifier + "-x",
        "timestamp": window.timestamp, "payload": {"stripe_customer_id": "cus_gone", "value": "1"}})
    UsageWindow.objects.filter(pk=window.pk).update(identifier=window.identifier + "-x")
    deliver_all(stripe_standin, after=start)
    process_received()
    window.refresh_from_db()
    assert "No customer found" in window.last_error
    run = reconciliation_run(now=later())
    assert run.differences == []  # the real event was counted; the rejected one never was


def test_saved_payment_method_becomes_the_customers_default(buyer, stripe_standin):
    from billing.models import StripeCustomer
    from tests.billing.stripe_support import deliver_all

    response = buyer.client.post("/api/v1/billing/checkout", {"return_url": "https://buyer.example/ok"},
                                 format="json")
    assert response.status_code == 201
    start = len(stripe_standin.events())
    stripe_standin.complete_checkout(response.json()["id"])
    deliver_all(stripe_standin, after=start)
    process_received()
    customer = stripe_standin.client().v1.customers.retrieve(StripeCustomer.objects.get().stripe_id)
    assert customer.invoice_settings.default_payment_method.startswith("pm_")


@pytest.mark.django_db(transaction=True)
def test_an_event_stored_while_the_broker_is_down_is_acknowledged_and_picked_up_by_beat(settings, broker_down):
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_TEST_SECRET
    event = {"id": "evt_during_outage", "object": "event", "type": "customer.updated",
             "created": int(timezone.now().timestamp()), "data": {"object": {"id": "cus_x", "object": "customer"}}}
    redis = get_redis()
    redis.delete("default")
    try:
        response = deliver(event)
        assert response.status_code == 200, response.content  # stored: Stripe need not send it again
        assert StripeEvent.objects.get(pk=event["id"]).status == StripeEvent.Status.RECEIVED
        assert redis.llen("default") == 0
        broker_down()  # the broker is back; beat looks for received events nobody processed
        StripeEvent.objects.filter(pk=event["id"]).update(received_at=timezone.now() - timedelta(minutes=6))
        assert webhook_events_retry() == 1
        assert redis.llen("default") == 1
    finally:
        redis.delete("default")  # no worker in this test; leave nothing for later ones
