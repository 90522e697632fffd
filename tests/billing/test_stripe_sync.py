"""Stripe objects created once, and usage windows reaching the meters (SECURITY.md row 24)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import StripeCustomer, StripePrice, StripeSubscription, UsageWindow
from billing.services.stripe_sync import subscription_ensure
from billing.services.subscription_sync import stripe_objects_sync
from billing.services.usage_sync import usage_sync
from tests.billing.stripe_support import call, later, meter_total, model_with_plan, subscribe
from tests.inference.serving import fresh_serving_caches  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_serving_caches")


def test_stripe_objects_are_created_once_even_when_answers_are_lost(vendor, buyer, stripe_standin):
    model, plan = model_with_plan(vendor.organization, "tiny", kind="subscription", monthly_fee_minor=900,
                                  included_calls=2, overage_price_minor=3)
    entitlement = subscribe(buyer, model, plan)
    # Every create is executed by Stripe, then its answer is lost once: the SDK retries with the
    # same idempotency key and gets the stored answer back.
    for prefix in ("/v1/customers", "/v1/products", "/v1/billing/meters", "/v1/prices", "/v1/subscriptions"):
        stripe_standin.add_fault(prefix, "drop_after_commit", count=1, method="POST")
    assert stripe_objects_sync() == {"created": 1, "cancelled": 0}
    assert stripe_objects_sync() == {"created": 0, "cancelled": 0}
    subscription_ensure(entitlement=entitlement)  # a retried task: finds the mapping
    counts = stripe_standin.state()["counts"]
    assert counts["customer"] == 1 and counts["product"] == 1 and counts["billing.meter"] == 1
    assert counts["price"] == 2 and counts["subscription"] == 1  # metered price + the monthly fee
    mapping = StripePrice.objects.get(plan=plan)
    sub = stripe_standin.client().v1.subscriptions.retrieve(StripeSubscription.objects.get().stripe_id)
    assert {item.price.id for item in sub["items"].data} == {mapping.price_id, mapping.fee_price_id}
    assert sub.customer == StripeCustomer.objects.get(organization=buyer.organization).stripe_id


def test_closed_hours_reach_the_meter_once_with_the_plans_quantity(vendor, buyer, stripe_standin):
    model, plan = model_with_plan(vendor.organization, "units", unit="1k_units", unit_price_minor=7)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync()
    for units in (1500, 250, 4):
        call(buyer, entitlement, units=units)
    assert usage_sync(now=timezone.now()) == {"built": 0, "sent": 0, "failed": 0}  # the hour is still open
    assert usage_sync(now=later())["sent"] == 1
    assert usage_sync(now=later() + timedelta(hours=1))["sent"] == 0  # nothing twice
    price = StripePrice.objects.get(plan=plan)
    customer = StripeCustomer.objects.get(organization=buyer.organization).stripe_id
    assert meter_total(stripe_standin, price.event_name, customer) == Decimal("1.754")
    window = UsageWindow.objects.get()
    assert window.state == UsageWindow.State.SENT and window.quantity == Decimal("1.754")


@pytest.mark.parametrize("mode", ["error_500", "error_429", "timeout", "drop_after_commit"])
def test_stripe_faults_are_retried_with_the_same_identifier(vendor, buyer, stripe_standin, mode):
    model, plan = model_with_plan(vendor.organization, "calls", unit_price_minor=2)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync()
    for _ in range(5):
        call(buyer, entitlement)
    # More failures than the SDK's own retries: this sync run gives up, the next one resends.
    stripe_standin.add_fault("/v1/billing/meter_events", mode, count=3, delay_seconds=0.2)
    first = usage_sync(now=later())
    window = UsageWindow.objects.get()
    assert first == {"built": 1, "sent": 0, "failed": 1} and window.state == UsageWindow.State.PENDING
    assert usage_sync(now=later())["sent"] == 1
    posted = [r for r in stripe_standin.requests if r["path"] == "/v1/billing/meter_events"]
    assert len(posted) >= 4  # three failed attempts, then the resend
    price = StripePrice.objects.get(plan=plan)
    customer = StripeCustomer.objects.get(organization=buyer.organization).stripe_id
    assert meter_total(stripe_standin, price.event_name, customer) == 5
    assert [e["identifier"] for e in stripe_standin.state()["meter_events"]] == [window.identifier]


def test_a_window_whose_answer_was_lost_is_recognised_as_already_recorded(vendor, buyer, stripe_standin):
    model, plan = model_with_plan(vendor.organization, "calls", unit_price_minor=2)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync()
    call(buyer, entitlement)
    # Stripe recorded it, but every answer (including the SDK's retries) was lost.
    stripe_standin.add_fault("/v1/billing/meter_events", "drop_after_commit", count=3)
    assert usage_sync(now=later())["failed"] == 1
    assert UsageWindow.objects.get().state == UsageWindow.State.PENDING
    # Next run: Stripe answers "An event already exists with identifier ..." -> sent, not an error.
    assert usage_sync(now=later())["sent"] == 1
    assert len(stripe_standin.state()["meter_events"]) == 1


def test_a_window_unanswered_for_a_day_is_left_to_the_reconciliation(vendor, buyer, stripe_standin):
    model, plan = model_with_plan(vendor.organization, "calls", unit_price_minor=2)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync()
    call(buyer, entitlement)
    stripe_standin.add_fault("/v1/billing/meter_events", "error_500", count=3)
    usage_sync(now=later())
    sent_before = len([r for r in stripe_standin.requests if r["path"] == "/v1/billing/meter_events"])
    assert usage_sync(now=later() + timedelta(hours=24))["sent"] == 0
    assert len([r for r in stripe_standin.requests if r["path"] == "/v1/billing/meter_events"]) == sent_before
    assert UsageWindow.objects.get().state == UsageWindow.State.PENDING


def test_a_cancelled_entitlement_ends_its_subscription_with_its_usage_invoiced(vendor, buyer, stripe_standin):
    from marketplace.models import Entitlement
    from marketplace.services.entitlements import entitlement_set_status

    model, plan = model_with_plan(vendor.organization, "calls", unit_price_minor=4)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync()
    for _ in range(6):
        call(buyer, entitlement)  # this hour is still open: the cancellation flushes it
    entitlement_set_status(organization=buyer.organization, entitlement_id=entitlement.pk,
                           status=Entitlement.Status.CANCELLED, actor=buyer.user)
    assert stripe_objects_sync() == {"created": 0, "cancelled": 1}
    assert stripe_objects_sync() == {"created": 0, "cancelled": 0}
    sub = StripeSubscription.objects.get()
    client = stripe_standin.client()
    assert sub.status == "canceled" == client.v1.subscriptions.retrieve(sub.stripe_id).status
    final = [i for i in client.v1.invoices.list({"subscription": sub.stripe_id}).data if i.total > 0]
    assert [i.total for i in final] == [24]
