"""invoice.paid -> each vendor's earning and exactly one transfer per vendor and invoice."""

import pytest

from billing.models import Invoice, StripeEvent, Transfer, VendorEarning
from billing.services.payouts import payouts_for_invoice
from billing.services.subscription_sync import stripe_objects_sync
from billing.services.usage_sync import usage_sync
from billing.services.webhooks import webhook_process
from tests.billing.stripe_support import (
    bill_period,
    call,
    deliver_all,
    later,
    model_with_plan,
    onboard,
    process_received,
    subscribe,
)
from tests.inference.serving import fresh_serving_caches  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_serving_caches")


def transfers_in_stripe(standin, group):
    return standin.client().v1.transfers.list({"transfer_group": group, "limit": 100}).data


@pytest.fixture
def two_vendors_billed(vendor, outsider, buyer, stripe_standin, settings):
    """The buyer uses a model of `vendor` (3 cents a call) and one of `outsider` (1k units at 7)."""
    settings.PLATFORM_FEE_BPS = 1500
    a, plan_a = model_with_plan(vendor.organization, "alpha", unit_price_minor=3)
    b, plan_b = model_with_plan(outsider.organization, "beta", unit="1k_units", unit_price_minor=7)
    ent_a, ent_b = subscribe(buyer, a, plan_a), subscribe(buyer, b, plan_b)
    stripe_objects_sync()
    onboard(vendor, stripe_standin)
    onboard(outsider, stripe_standin)
    for _ in range(11):
        call(buyer, ent_a)
    for units in (2000, 1234):
        call(buyer, ent_b, units=units)
    usage_sync(now=later())
    start = len(stripe_standin.events())
    invoices = bill_period(stripe_standin)
    deliver_all(stripe_standin, after=start)
    process_received()
    return invoices


def test_paid_invoices_pay_each_vendor_its_share_once(two_vendors_billed, vendor, outsider, stripe_standin):
    earnings = {e.vendor_id: e for e in VendorEarning.objects.all()}
    assert set(earnings) == {vendor.organization.pk, outsider.organization.pk}
    # 11 calls x 3 = 33; fee 15% = 4.95 -> 5; 3.234k units x 7 = 22.638 -> 23; fee 3.45 -> 3
    a, b = earnings[vendor.organization.pk], earnings[outsider.organization.pk]
    assert (a.gross_minor, a.fee_minor, a.net_minor) == (33, 5, 28)
    assert (b.gross_minor, b.fee_minor, b.net_minor) == (23, 3, 20)
    for earning in (a, b):
        transfer = earning.transfer
        assert transfer.status == Transfer.Status.SENT
        (in_stripe,) = transfers_in_stripe(stripe_standin, earning.invoice.stripe_id)
        assert in_stripe.id == transfer.stripe_id and in_stripe.amount == earning.net_minor
        assert in_stripe.source_transaction == earning.invoice.charge_id != ""
        assert in_stripe.destination == earning.vendor.vendor_account.stripe_id


def test_running_the_payout_twice_creates_no_second_transfer(two_vendors_billed, stripe_standin):
    paid_events = StripeEvent.objects.filter(type="invoice.paid")
    # The task runs again (a redelivered message), then again after its claim was lost.
    for event in paid_events:
        webhook_process(event_id=event.pk)
        StripeEvent.objects.filter(pk=event.pk).update(status=StripeEvent.Status.FAILED)
        assert webhook_process(event_id=event.pk)
    # A worker died after Stripe made the transfer but before we stored it: the row says pending.
    Transfer.objects.update(status=Transfer.Status.PENDING, stripe_id="")
    for invoice in Invoice.objects.filter(status="paid", total_minor__gt=0):
        payouts_for_invoice(invoice=invoice)
        payouts_for_invoice(invoice=invoice)
    assert VendorEarning.objects.count() == 2 and Transfer.objects.count() == 2
    for transfer in Transfer.objects.all():
        (in_stripe,) = transfers_in_stripe(stripe_standin, transfer.transfer_group)
        assert transfer.status == Transfer.Status.SENT and transfer.stripe_id == in_stripe.id
    assert stripe_standin.state()["counts"]["transfer"] == 2


def test_earnings_wait_for_the_vendors_onboarding(vendor, buyer, stripe_standin):
    model, plan = model_with_plan(vendor.organization, "tiny", unit_price_minor=5)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync()
    for _ in range(4):
        call(buyer, entitlement)
    usage_sync(now=later())
    start = len(stripe_standin.events())
    bill_period(stripe_standin)
    deliver_all(stripe_standin, after=start)
    process_received()
    earning = VendorEarning.objects.get()
    assert earning.net_minor == 16 and earning.transfer.status == Transfer.Status.WAITING
    assert stripe_standin.state()["counts"].get("transfer", 0) == 0
    onboard(vendor, stripe_standin)  # account.updated: transfers active -> the waiting one is sent
    earning.transfer.refresh_from_db()
    assert earning.transfer.status == Transfer.Status.SENT
    assert stripe_standin.state()["counts"]["transfer"] == 1


def test_vendor_sees_earnings_and_can_start_onboarding(two_vendors_billed, vendor, buyer):
    body = vendor.client.get("/api/v1/vendor/earnings").json()
    assert body["stripe_configured"] and body["payout_account"]["transfers_active"]
    assert body["totals"] == [{"currency": "usd", "gross_minor": 33, "fee_minor": 5, "net_minor": 28}]
    assert [(e["net_minor"], e["transfer_status"]) for e in body["earnings"]] == [(28, "sent")]
    response = vendor.client.post("/api/v1/vendor/payouts/onboarding",
                                  {"return_url": "https://vendor.example/back"}, format="json")
    assert response.status_code == 201 and "/connect/onboarding/" in response.json()["url"]
    assert buyer.client.get("/api/v1/vendor/earnings").json()["earnings"] == []
