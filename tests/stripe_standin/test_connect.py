"""Vendor payouts: Express onboarding through an account link, then transfers grouped per payout run."""

from __future__ import annotations

import json
import urllib.request

import pytest
import stripe

from tests.stripe_standin.support import WEBHOOK_SECRET


def onboard(client, receiver=None) -> stripe.Account:
    account = client.v1.accounts.create({"type": "express", "email": "vendor@example.com",
                                         "capabilities": {"transfers": {"requested": True}}})
    link = client.v1.account_links.create({
        "account": account.id, "type": "account_onboarding",
        "refresh_url": "http://modelbay.test/vendor/payouts/refresh",
        "return_url": "http://modelbay.test/vendor/payouts/done",
    })
    with urllib.request.urlopen(link.url) as page:
        html = page.read().decode()
    assert "http://modelbay.test/vendor/payouts/done" in html
    return account


def test_visiting_the_account_link_completes_onboarding_and_fires_account_updated(
        client, standin, receiver) -> None:
    account = client.v1.accounts.create({"type": "express", "country": "US"})
    assert account.id.startswith("acct_") and account.type == "express"
    assert not account.charges_enabled and account.requirements.currently_due
    link = client.v1.account_links.create({
        "account": account.id, "type": "account_onboarding",
        "refresh_url": "http://modelbay.test/refresh", "return_url": "http://modelbay.test/return",
    })
    assert link.object == "account_link" and link.url.startswith(standin.base_url)
    urllib.request.urlopen(link.url).read()

    delivery = receiver.wait_for("account.updated", account.id)
    event = stripe.Webhook.construct_event(delivery["body"], delivery["signature"], WEBHOOK_SECRET)
    assert event.data.object.charges_enabled and event.data.object.payouts_enabled
    assert event.data.previous_attributes.details_submitted is False
    fetched = client.v1.accounts.retrieve(account.id)
    assert fetched.details_submitted and fetched.capabilities.transfers == "active"

    # Links are single use, like Stripe's: a second visit is sent to refresh_url.
    with urllib.request.urlopen(link.url) as page:
        assert "http://modelbay.test/refresh" in page.read().decode()


def test_account_update_is_reflected(client) -> None:
    account = client.v1.accounts.create({"type": "express"})
    updated = client.v1.accounts.update(account.id, {"metadata": {"vendor": "acme"}})
    assert updated.metadata["vendor"] == "acme"


def test_transfers_are_listed_by_transfer_group(client, standin, receiver) -> None:
    first, second = onboard(client), onboard(client)
    run = "payout-2026-11"
    a = client.v1.transfers.create({"amount": 700, "currency": "usd", "destination": first.id,
                                    "transfer_group": run, "metadata": {"vendor": "a"}})
    b = client.v1.transfers.create({"amount": 300, "currency": "usd", "destination": second.id,
                                    "transfer_group": run})
    client.v1.transfers.create({"amount": 50, "currency": "usd", "destination": first.id,
                                "transfer_group": "payout-2026-10"})
    assert a.id.startswith("tr_") and a.destination == first.id and a.transfer_group == run
    listed = client.v1.transfers.list({"transfer_group": run}).data
    assert [t.id for t in listed] == [b.id, a.id]
    assert client.v1.transfers.retrieve(a.id).amount == 700
    assert len(standin.state()["transfers"]) == 3


def test_transfers_to_accounts_that_have_not_onboarded_are_refused(client) -> None:
    account = client.v1.accounts.create({"type": "express"})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.transfers.create({"amount": 100, "currency": "usd", "destination": account.id})
    assert exc.value.code == "insufficient_capabilities_for_transfer"


def test_transfer_from_a_charge_cannot_exceed_it(metered, client) -> None:
    vendor = onboard(client)
    client.v1.billing.meter_events.create({"event_name": "inference_call", "identifier": "u1",
                                           "payload": {"stripe_customer_id": metered["customer"].id,
                                                       "value": "2000"}})
    invoice = client.v1.invoices.create({"customer": metered["customer"].id,
                                         "subscription": metered["subscription"].id})
    paid = client.v1.invoices.pay(invoice.id, {"expand": ["payments"]})
    intent = client.v1.payment_intents.retrieve(paid.payments.data[0].payment.payment_intent)
    transfer = client.v1.transfers.create({"amount": 800, "currency": "usd", "destination": vendor.id,
                                           "source_transaction": intent.latest_charge})
    assert transfer.source_transaction == intent.latest_charge
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.create({"amount": 300, "currency": "usd", "destination": vendor.id,
                                    "source_transaction": intent.latest_charge})


def test_state_lists_object_counts_over_http(client, standin) -> None:
    client.v1.customers.create({})
    with urllib.request.urlopen(f"{standin.base_url}/_standin/state") as response:
        state = json.load(response)
    assert state["counts"]["customer"] == 1 and "meter_events" in state and "transfers" in state
