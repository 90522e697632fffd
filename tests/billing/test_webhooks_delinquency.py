"""invoice.payment_failed: calls answer 402 once the grace period is over; invoice.paid lifts it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import Invoice, StripeCustomer
from billing.selectors.accounts import delinquency_cache_forget, org_is_delinquent
from billing.services.subscription_sync import stripe_objects_sync
from billing.services.usage_sync import usage_sync
from inference.serving import gateway
from tests.billing.stripe_support import (
    call,
    deliver_all,
    later,
    model_with_plan,
    process_received,
    subscribe,
)
from tests.inference.serving import body, fresh_serving_caches, oip_client, post_infer  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_serving_caches")


@pytest.fixture(autouse=True)
def _forget_standing():
    # Organization ids come back after each test's rollback: no cached standing may outlive it.
    delinquency_cache_forget()
    yield
    delinquency_cache_forget()


@pytest.fixture
def failed_invoice(vendor, buyer, stripe_standin):
    model, plan = model_with_plan(vendor.organization, "tiny", unit_price_minor=2)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync()
    for _ in range(3):
        call(buyer, entitlement)
    usage_sync(now=later())
    client = stripe_standin.client()
    sub = entitlement.stripe_subscription
    invoice = client.v1.invoices.create({"customer": StripeCustomer.objects.get().stripe_id,
                                         "subscription": sub.stripe_id})
    start = len(stripe_standin.events())
    stripe_standin.fail_invoice_payment(invoice.id)
    delinquency_cache_forget()
    return {"invoice": invoice.id, "start": start, "model": model, "entitlement": entitlement}


def test_failed_payment_blocks_calls_after_the_grace_period(failed_invoice, buyer, stripe_standin, settings):
    settings.DELINQUENCY_GRACE_DAYS = 7
    deliver_all(stripe_standin, after=failed_invoice["start"])
    process_received()
    assert Invoice.objects.get(stripe_id=failed_invoice["invoice"]).status == "open"
    org = buyer.organization
    assert not org_is_delinquent(organization=org)  # within the grace period
    assert org_is_delinquent(organization=org, now=timezone.now() + timedelta(days=7, minutes=1))

    settings.DELINQUENCY_GRACE_DAYS = 0  # the grace period is over
    name = failed_invoice["model"].full_name
    response = post_infer(oip_client(buyer), name, body([[1, 2, 3, 4]]))
    assert response.status_code == 402 and "grace period has ended" in response.json()["error"]

    start = len(stripe_standin.events())
    stripe_standin.client().v1.invoices.pay(failed_invoice["invoice"])  # the buyer paid
    deliver_all(stripe_standin, after=start)
    process_received()
    delinquency_cache_forget()  # other processes see it within the selector's few-second cache
    assert not org_is_delinquent(organization=org)
    admission = gateway.admit(api_key=buyer.api_key, name=name, version=None)
    assert admission.entitlement.pk == failed_invoice["entitlement"].pk


def test_a_late_payment_failed_event_does_not_block_a_paid_invoice(failed_invoice, buyer, stripe_standin, settings):
    settings.DELINQUENCY_GRACE_DAYS = 0
    stripe_standin.client().v1.invoices.pay(failed_invoice["invoice"])
    events = stripe_standin.events()[failed_invoice["start"]:]
    paid_first = sorted(events, key=lambda e: e["type"] != "invoice.paid")
    from tests.billing.stripe_support import deliver

    for event in paid_first:  # invoice.paid arrives before the older invoice.payment_failed
        deliver(event)
        process_received()
    delinquency_cache_forget()
    assert not org_is_delinquent(organization=buyer.organization)
    assert StripeCustomer.objects.get().delinquent_since is None
    assert Invoice.objects.get(stripe_id=failed_invoice["invoice"]).status == "paid"
