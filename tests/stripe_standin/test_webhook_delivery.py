"""Delivery behaviour Modelbay's webhook handler must survive: retries, duplicates, reordering."""

from __future__ import annotations

import json
import urllib.request

import stripe

from tests.stripe_standin.support import WEBHOOK_SECRET


def test_a_failing_endpoint_gets_the_event_again(client, standin, receiver) -> None:
    receiver.fail_next = 2
    customer = client.v1.customers.create({})
    delivery = receiver.wait_for("customer.created", customer.id)
    stripe.Webhook.construct_event(delivery["body"], delivery["signature"], WEBHOOK_SECRET)
    assert len(receiver.deliveries) == 3


def test_resend_delivers_a_duplicate(client, standin, receiver) -> None:
    client.v1.customers.create({})
    [event] = standin.events("customer.created")
    assert standin.wait_for_webhooks()
    request = urllib.request.Request(f"{standin.base_url}/_standin/webhooks/resend/{event['id']}", method="POST")
    urllib.request.urlopen(request).read()
    assert standin.wait_for_webhooks()
    ids = [json.loads(d["body"])["id"] for d in receiver.accepted()]
    assert ids.count(event["id"]) == 2


def test_held_events_can_be_released_in_reverse_order(client, standin, receiver) -> None:
    standin.pause_webhooks()
    account = client.v1.accounts.create({"type": "express"})
    client.v1.accounts.update(account.id, {"metadata": {"step": "1"}})
    client.v1.accounts.update(account.id, {"metadata": {"step": "2"}})
    assert receiver.deliveries == []
    request = urllib.request.Request(f"{standin.base_url}/_standin/webhooks/deliver",
                                     data=json.dumps({"order": "reverse"}).encode(), method="POST")
    urllib.request.urlopen(request).read()
    assert standin.wait_for_webhooks()
    steps = [json.loads(d["body"])["data"]["object"]["metadata"]["step"] for d in receiver.accepted()]
    assert steps == ["2", "1"]


def test_events_are_listed_newest_first_and_filtered_by_type(client) -> None:
    client.v1.customers.create({})
    client.v1.products.create({"name": "p"})
    assert [e.type for e in client.v1.events.list().data][:2] == ["product.created", "customer.created"]
    assert [e.type for e in client.v1.events.list({"type": "customer.created"}).data] == ["customer.created"]
