"""Every resource Modelbay uses can be created and read back through the real SDK, in Stripe's shapes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import stripe

FIXTURES = json.loads(
    (Path(__file__).parents[2] / "stripe_standin" / "fixtures.json").read_text()
)["resources"]


def assert_fixture_shape(obj: stripe.StripeObject, kind: str) -> None:
    data = obj.to_dict()
    assert set(FIXTURES[kind]) <= set(data), f"missing {set(FIXTURES[kind]) - set(data)}"
    assert data["object"] == FIXTURES[kind]["object"]
    assert data.get("livemode", False) is False


def test_customer_is_created_updated_listed_and_retrieved(client: stripe.StripeClient) -> None:
    created = client.v1.customers.create({"email": "a@example.com", "name": "Ada", "metadata": {"org": "7"}})
    assert created.id.startswith("cus_") and created.created > 0
    assert_fixture_shape(created, "customer")

    client.v1.customers.update(created.id, {"metadata": {"org": "", "tier": "pro"}, "name": "Ada L."})
    fetched = client.v1.customers.retrieve(created.id)
    assert fetched.name == "Ada L." and fetched.metadata.to_dict() == {"tier": "pro"}

    page = client.v1.customers.list({"email": "a@example.com"})
    assert page.object == "list" and [c.id for c in page.data] == [created.id]
    assert page.url == "/v1/customers"


def test_lists_paginate_newest_first_with_starting_after(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create({"name": str(i)}).id for i in range(5)]
    first = client.v1.customers.list({"limit": 2})
    assert [c.id for c in first.data] == ids[::-1][:2] and first.has_more
    second = client.v1.customers.list({"limit": 2, "starting_after": first.data[-1].id})
    assert [c.id for c in second.data] == ids[::-1][2:4]
    every = [c.id for c in client.v1.customers.list({"limit": 2}).auto_paging_iter()]
    assert every == ids[::-1]


def test_metered_price_requires_a_meter(client: stripe.StripeClient) -> None:
    product = client.v1.products.create({"name": "m"})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.prices.create({"currency": "usd", "product": product.id, "unit_amount": 1,
                                 "recurring": {"interval": "month", "usage_type": "metered"}})
    assert exc.value.param == "recurring[meter]"


def test_catalog_and_subscription_come_back_in_stripe_shapes(metered: dict, client: stripe.StripeClient) -> None:
    assert_fixture_shape(metered["product"], "product")
    price = client.v1.prices.retrieve(metered["price"].id)
    assert_fixture_shape(price, "price")
    assert price.recurring.usage_type == "metered" and price.recurring.meter == metered["meter"].id
    assert price.unit_amount is None and price.unit_amount_decimal == Decimal("0.5")
    assert [p.id for p in client.v1.prices.list({"product": metered["product"].id}).data] == [price.id]

    meter = client.v1.billing.meters.retrieve(metered["meter"].id)
    assert meter.id.startswith("mtr_") and meter.status == "active"
    assert_fixture_shape(meter, "billing.meter")
    assert [m.id for m in client.v1.billing.meters.list().data] == [meter.id]

    sub = client.v1.subscriptions.retrieve(metered["subscription"].id, {"expand": ["latest_invoice"]})
    assert_fixture_shape(sub, "subscription")
    assert sub.status == "active" and sub.metadata["plan"] == "pay-as-you-go"
    item = sub["items"].data[0]
    assert item.id.startswith("si_") and item.price.id == price.id
    assert item.current_period_end > item.current_period_start
    # Stripe opens a metered-only subscription with a zero invoice that is paid at once.
    assert sub.latest_invoice.billing_reason == "subscription_create"
    assert sub.latest_invoice.status == "paid" and sub.latest_invoice.amount_due == 0


def test_subscription_is_updated_and_cancelled(metered: dict, client: stripe.StripeClient,
                                               standin) -> None:
    sub_id = metered["subscription"].id
    updated = client.v1.subscriptions.update(sub_id, {"metadata": {"seats": "3"}})
    assert updated.metadata.to_dict() == {"plan": "pay-as-you-go", "seats": "3"}
    cancelled = client.v1.subscriptions.cancel(sub_id)
    assert cancelled.status == "canceled" and cancelled.canceled_at is not None
    types = [e["type"] for e in standin.events()]
    assert "customer.subscription.updated" in types and "customer.subscription.deleted" in types
    assert client.v1.subscriptions.list({"customer": metered["customer"].id}).data == []


def test_setup_intent_is_created_and_retrieved(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({})
    seti = client.v1.setup_intents.create({"customer": customer.id, "usage": "off_session"})
    assert seti.id.startswith("seti_") and seti.client_secret.startswith(seti.id + "_secret_")
    assert_fixture_shape(seti, "setup_intent")
    assert client.v1.setup_intents.retrieve(seti.id).status == "requires_payment_method"


def test_unknown_ids_raise_the_sdk_not_found_error(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.customers.retrieve("cus_missing")
    assert exc.value.http_status == 404 and exc.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.create({"customer": "cus_missing", "items": [{"price": "price_x"}]})
    assert exc.value.http_status == 400 and exc.value.param == "customer"


def test_live_keys_and_missing_keys_are_refused(standin) -> None:
    from tests.stripe_standin.support import make_client

    live = stripe.StripeClient("sk_live_nope", base_addresses={"api": standin.base_url})
    with pytest.raises(stripe.AuthenticationError):
        live.v1.customers.list()
    assert make_client(standin).v1.customers.list().data == []
