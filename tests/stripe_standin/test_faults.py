"""Injected faults behave like a flaky network, and retries with one idempotency key stay exactly-once."""

from __future__ import annotations

import json
import urllib.request

import pytest
import stripe

from tests.stripe_standin.support import make_client


def create_calls(standin, path: str = "/v1/customers") -> list[dict]:
    return [r for r in standin.requests if r["method"] == "POST" and r["path"] == path]


@pytest.mark.parametrize("mode", ["error_500", "error_429"])
def test_sdk_retries_transient_errors_with_the_same_key_and_creates_once(standin, mode) -> None:
    standin.add_fault("/v1/customers", mode, count=2)
    client = make_client(standin, max_network_retries=3)
    customer = client.v1.customers.create({"email": "retry@example.com"})
    calls = create_calls(standin)
    assert [c["status"] for c in calls] == [500 if mode == "error_500" else 429] * 2 + [200]
    assert len({c["idempotency_key"] for c in calls}) == 1
    assert standin.state()["counts"]["customer"] == 1
    assert client.v1.customers.retrieve(customer.id).email == "retry@example.com"


def test_without_retries_a_500_reaches_the_caller(standin, client) -> None:
    standin.add_fault("/v1/customers", "error_500", count=1)
    with pytest.raises(stripe.APIError):
        client.v1.customers.create({})
    assert "customer" not in standin.state()["counts"]


def test_rate_limit_is_not_retried_by_the_sdk(standin) -> None:
    standin.add_fault("/v1/billing/meter_events", "error_429_rate_limit", count=1)
    client = make_client(standin, max_network_retries=3)
    with pytest.raises(stripe.RateLimitError):
        client.v1.billing.meter_events.create({"event_name": "x", "payload": {}})


def test_timeout_raises_the_sdk_connection_error_and_creates_nothing(standin) -> None:
    standin.add_fault("/v1/customers", "timeout", count=1, delay_seconds=3)
    client = make_client(standin, max_network_retries=0, http_client=stripe.RequestsClient(timeout=0.3))
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.create({})
    assert "customer" not in standin.state()["counts"]


def test_drop_after_commit_keeps_the_object_and_a_retry_gets_it_back(standin, client) -> None:
    standin.add_fault("/v1/customers", "drop_after_commit", count=1)
    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.create({"email": "lost@example.com"}, {"idempotency_key": "signup-7"})
    assert standin.state()["counts"]["customer"] == 1  # it happened, the client just didn't hear

    again = client.v1.customers.create({"email": "lost@example.com"}, {"idempotency_key": "signup-7"})
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert again.email == "lost@example.com"
    assert standin.state()["counts"]["customer"] == 1


def test_sdk_retry_after_a_dropped_response_replays_the_meter_event(metered, standin) -> None:
    standin.add_fault("/v1/billing/meter_events", "drop_after_commit", count=1)
    client = make_client(standin, max_network_retries=2)
    event = client.v1.billing.meter_events.create({
        "event_name": "inference_call", "identifier": "usage-99",
        "payload": {"stripe_customer_id": metered["customer"].id, "value": "4"},
    })
    assert event.identifier == "usage-99"
    assert [e["identifier"] for e in standin.state()["meter_events"]] == ["usage-99"]
    calls = create_calls(standin, "/v1/billing/meter_events")
    assert [c["replayed"] for c in calls] == [False, True]


def test_probabilistic_faults_are_reproducible_with_a_seed(standin) -> None:
    def fired(seed: int) -> list[bool]:
        standin.set_faults([{"path_prefix": "/v1/products", "mode": "error_500",
                             "probability": 0.5, "seed": seed}])
        client = make_client(standin, max_network_retries=0)
        outcomes = []
        for i in range(12):
            try:
                client.v1.products.create({"name": f"p{i}"})
                outcomes.append(False)
            except stripe.APIError:
                outcomes.append(True)
        return outcomes

    first, second = fired(1), fired(1)
    assert first == second and any(first) and not all(first)


def test_faults_are_set_and_cleared_over_http(standin, client) -> None:
    body = json.dumps({"rules": [{"path_prefix": "/v1/customers", "mode": "error_500", "count": 1}]})
    request = urllib.request.Request(f"{standin.base_url}/_standin/faults", data=body.encode(), method="POST")
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["rules"][0]["mode"] == "error_500"
    urllib.request.urlopen(urllib.request.Request(f"{standin.base_url}/_standin/faults", method="DELETE"))
    assert client.v1.customers.create({}).id.startswith("cus_")
