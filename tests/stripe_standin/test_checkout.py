"""Checkout: the hosted page's button completes the session and Modelbay hears about it."""

from __future__ import annotations

import re
import urllib.parse
import urllib.request

import stripe

from tests.stripe_standin.support import WEBHOOK_SECRET


def press_the_button(url: str, email: str = "buyer@example.com") -> str:
    with urllib.request.urlopen(url) as page:
        html = page.read().decode()
    action = re.search(r"action='([^']+)'", html)[1]
    base = url.split("/checkout/")[0]
    data = urllib.parse.urlencode({"email": email}).encode()
    with urllib.request.urlopen(urllib.request.Request(base + action, data=data, method="POST")) as done:
        return done.read().decode()


def test_setup_mode_saves_a_card(client, receiver) -> None:
    customer = client.v1.customers.create({"email": "buyer@example.com"})
    session = client.v1.checkout.sessions.create({
        "mode": "setup", "customer": customer.id, "currency": "usd",
        "success_url": "http://modelbay.test/billing/done?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://modelbay.test/billing",
    })
    assert session.id.startswith("cs_") and session.status == "open" and session.setup_intent.startswith("seti_")
    page = press_the_button(session.url)
    assert f"http://modelbay.test/billing/done?session={session.id}" in page

    delivery = receiver.wait_for("checkout.session.completed", session.id)
    event = stripe.Webhook.construct_event(delivery["body"], delivery["signature"], WEBHOOK_SECRET)
    assert event.data.object.status == "complete"
    seti = client.v1.setup_intents.retrieve(session.setup_intent)
    assert seti.status == "succeeded" and seti.payment_method.startswith("pm_")
    methods = client.v1.customers.payment_methods.list(customer.id).data
    assert [m.id for m in methods] == [seti.payment_method]


def test_subscription_mode_starts_the_subscription(metered, client, standin, receiver) -> None:
    customer = client.v1.customers.create({"email": "new@example.com"})
    session = client.v1.checkout.sessions.create({
        "mode": "subscription", "customer": customer.id, "success_url": "http://modelbay.test/ok",
        "line_items": [{"price": metered["price"].id}],
        "subscription_data": {"metadata": {"entitlement": "ent_1"}},
    })
    standin.complete_checkout(session.id)
    done = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["subscription"]})
    assert done.status == "complete" and done.subscription.metadata["entitlement"] == "ent_1"
    assert done.subscription.customer == customer.id
    receiver.wait_for("checkout.session.completed", session.id)
    receiver.wait_for("customer.subscription.created", done.subscription.id)
