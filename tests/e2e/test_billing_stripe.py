"""The money path end to end: calls -> usage -> Stripe meters -> invoice -> paid -> vendor
transfer, with Stripe's webhooks pushed by the stand-in to the running site and handled by a
real Celery worker process (duplicates included). Everything checked through the API."""

import time

import pytest

from billing.models import Invoice, StripeEvent, StripeSubscription, Transfer
from billing.services.usage_sync import usage_sync
from billing.tasks import stripe_objects_sync
from tests.billing.stripe_support import (
    WEBHOOK_PATH,
    bill_period,
    call,
    later,
    model_with_plan,
    subscribe,
)
from tests.conftest import STRIPE_WEBHOOK_TEST_SECRET
from tests.inference.serving import fresh_serving_caches  # noqa: F401
from tests.workers import worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_serving_caches")]


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_calls_become_a_paid_invoice_and_a_vendor_transfer(vendor, buyer, stripe_standin, live_server,
                                                          start_worker):
    stripe_standin.configure_webhooks(f"{live_server.url}{WEBHOOK_PATH}", STRIPE_WEBHOOK_TEST_SECRET)
    worker = start_worker(queues="default", name="billing", env=worker_env(
        STRIPE_API_KEY="sk_test_standin", STRIPE_API_BASE=stripe_standin.base_url,
        STRIPE_WEBHOOK_SECRET=STRIPE_WEBHOOK_TEST_SECRET))

    onboarding = vendor.client.post("/api/v1/vendor/payouts/onboarding",
                                    {"return_url": "https://vendor.example/back"}, format="json")
    assert onboarding.status_code == 201
    stripe_standin.complete_onboarding(vendor.organization.vendor_account.stripe_id)
    wait_for(lambda: vendor.client.get("/api/v1/vendor/earnings").json()["payout_account"]["transfers_active"],
             what="account.updated handled by the worker")

    model, plan = model_with_plan(vendor.organization, "tiny", unit_price_minor=25)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync.delay()  # beat's job, run by the worker
    wait_for(lambda: StripeSubscription.objects.filter(entitlement=entitlement).exists(), what="subscription")
    checkout = buyer.client.post("/api/v1/billing/checkout", {}, format="json")
    assert checkout.status_code == 201 and "/checkout/" in checkout.json()["url"]

    for _ in range(8):
        call(buyer, entitlement)
    assert usage_sync(now=later())["sent"] == 1

    (invoice_id,) = bill_period(stripe_standin)
    paid_event = wait_for(lambda: StripeEvent.objects.filter(type="invoice.paid", object_id=invoice_id).first(),
                          what="invoice.paid delivered")
    stripe_standin.resend_event(paid_event.pk)  # Stripe delivers it again
    stripe_standin.resend_event(paid_event.pk)
    assert stripe_standin.wait_for_webhooks(30)
    wait_for(lambda: Transfer.objects.filter(status=Transfer.Status.SENT).exists(), what="the transfer")
    wait_for(lambda: not StripeEvent.objects.exclude(status=StripeEvent.Status.PROCESSED).exists(),
             what="every event processed")

    invoices = buyer.client.get("/api/v1/billing/invoices").json()["results"]
    cycle = next(i for i in invoices if i["total_minor"] > 0)
    assert (cycle["status"], cycle["total_minor"], cycle["amount_paid_minor"]) == ("paid", 200, 200)
    assert cycle["by_model"] == [{"model": "vendor-co.tiny", "amount_minor": 200}]
    assert cycle["hosted_url"].startswith(stripe_standin.base_url)
    usage = buyer.client.get("/api/v1/billing/usage").json()["days"]
    assert [(d["model"], d["calls"]) for d in usage] == [("vendor-co.tiny", 8)]
    earnings = vendor.client.get("/api/v1/vendor/earnings").json()
    assert [(e["gross_minor"], e["fee_minor"], e["net_minor"], e["transfer_status"])
            for e in earnings["earnings"]] == [(200, 40, 160, "sent")]
    transfers = stripe_standin.client().v1.transfers.list({"transfer_group": invoice_id}).data
    assert [t.amount for t in transfers] == [160]
    assert Invoice.objects.get(stripe_id=invoice_id).charge_id == transfers[0].source_transaction
    assert "billing.tasks.stripe_event_process" in worker.output()
