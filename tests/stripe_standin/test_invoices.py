"""Invoices bill metered usage correctly; finalizing and paying emit verifiable signed webhooks."""

from __future__ import annotations

import json

import pytest
import stripe

from tests.stripe_standin.support import WEBHOOK_SECRET


def record_usage(client, customer: str, values: list[int]) -> None:
    for i, value in enumerate(values):
        client.v1.billing.meter_events.create({
            "event_name": "inference_call", "identifier": f"req-{i}",
            "payload": {"stripe_customer_id": customer, "value": str(value)},
        })


def test_invoice_for_metered_usage_charges_usage_times_unit_price(metered, client) -> None:
    record_usage(client, metered["customer"].id, [100, 250, 51])  # 401 units at 0.5 cent
    invoice = client.v1.invoices.create(
        {"customer": metered["customer"].id, "subscription": metered["subscription"].id})
    assert invoice.status == "draft" and invoice.id.startswith("in_")
    [line] = invoice.lines.data
    assert line.quantity == 401 and line.amount == 201  # 200.5 rounds half up
    assert line.pricing.price_details.price == metered["price"].id
    assert line.parent.subscription_item_details.subscription == metered["subscription"].id
    assert invoice.amount_due == invoice.total == invoice.subtotal == 201
    listed = client.v1.invoices.list({"customer": metered["customer"].id}).data
    assert invoice.id in [i.id for i in listed]


def test_cancelled_usage_is_not_billed(metered, client) -> None:
    record_usage(client, metered["customer"].id, [10, 30])
    client.v1.billing.meter_event_adjustments.create(
        {"event_name": "inference_call", "type": "cancel", "cancel": {"identifier": "req-1"}})
    invoice = client.v1.invoices.create(
        {"customer": metered["customer"].id, "subscription": metered["subscription"].id})
    assert invoice.amount_due == 5


def test_finalize_and_pay_emit_signed_webhooks(metered, client, standin, receiver) -> None:
    record_usage(client, metered["customer"].id, [1000])
    invoice = client.v1.invoices.create(
        {"customer": metered["customer"].id, "subscription": metered["subscription"].id})
    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert finalized.status == "open" and finalized.number
    paid = client.v1.invoices.pay(invoice.id, {"expand": ["payments"]})
    assert paid.status == "paid" and paid.amount_paid == 500 and paid.amount_remaining == 0

    payment_intent = paid.payments.data[0].payment.payment_intent
    charge = client.v1.charges.retrieve(client.v1.payment_intents.retrieve(payment_intent).latest_charge)
    assert charge.id.startswith("ch_") and charge.amount == 500 and charge.status == "succeeded"

    delivery = receiver.wait_for("invoice.paid", invoice.id)
    event = stripe.Webhook.construct_event(delivery["body"], delivery["signature"], WEBHOOK_SECRET)
    assert event.type == "invoice.paid" and event.data.object.id == invoice.id
    assert event.data.object.status == "paid"
    assert client.v1.events.retrieve(event.id).type == "invoice.paid"
    finalized_event = receiver.wait_for("invoice.finalized", invoice.id)
    via_client = client.construct_event(finalized_event["body"], finalized_event["signature"], WEBHOOK_SECRET)
    assert via_client.data.object.status == "open"
    assert via_client.data.previous_attributes.status == "draft"


def test_a_wrong_secret_fails_signature_verification(metered, receiver) -> None:
    delivery = receiver.wait_for("customer.subscription.created")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery["body"], delivery["signature"], "whsec_wrong")
    tampered = delivery["body"].replace("pay-as-you-go", "free")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, delivery["signature"], WEBHOOK_SECRET)


def test_failed_payment_fires_payment_failed_and_declines_pay(metered, client, standin, receiver) -> None:
    record_usage(client, metered["customer"].id, [100])
    invoice = client.v1.invoices.create(
        {"customer": metered["customer"].id, "subscription": metered["subscription"].id})
    client.v1.invoices.finalize_invoice(invoice.id)
    standin.fail_invoice_payment(invoice.id, decline_future_attempts=True)
    event = json.loads(receiver.wait_for("invoice.payment_failed", invoice.id)["body"])
    assert event["data"]["object"]["attempt_count"] == 1
    with pytest.raises(stripe.CardError) as exc:
        client.v1.invoices.pay(invoice.id)
    assert exc.value.code == "card_declined"
    assert client.v1.invoices.retrieve(invoice.id).status == "open"


def test_advancing_the_clock_past_the_period_bills_the_usage(metered, client, standin, receiver) -> None:
    record_usage(client, metered["customer"].id, [40])
    item = metered["subscription"]["items"].data[0]
    billed = standin.advance_clock(item.current_period_end - standin.store.now() + 1)["invoices"]
    [invoice] = [client.v1.invoices.retrieve(i) for i in billed]
    assert invoice.billing_reason == "subscription_cycle" and invoice.status == "paid"
    assert invoice.amount_paid == 20
    assert invoice.period_start == item.current_period_start
    sub = client.v1.subscriptions.retrieve(metered["subscription"].id)
    assert sub["items"].data[0].current_period_start == item.current_period_end
    assert sub.latest_invoice == invoice.id
