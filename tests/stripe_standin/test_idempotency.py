"""Idempotency-Key: replays return the stored answer; a reused key with other params is refused."""

from __future__ import annotations

import pytest
import stripe


def test_same_key_and_params_replay_the_first_response(client: stripe.StripeClient, standin) -> None:
    first = client.v1.customers.create({"email": "x@example.com"}, {"idempotency_key": "signup-42"})
    again = client.v1.customers.create({"email": "x@example.com"}, {"idempotency_key": "signup-42"})
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    assert standin.state()["counts"]["customer"] == 1


def test_same_key_with_different_params_is_an_idempotency_error(client: stripe.StripeClient, standin) -> None:
    client.v1.customers.create({"email": "x@example.com"}, {"idempotency_key": "signup-43"})
    with pytest.raises(stripe.IdempotencyError) as exc:
        client.v1.customers.create({"email": "other@example.com"}, {"idempotency_key": "signup-43"})
    assert exc.value.http_status == 400
    assert standin.state()["counts"]["customer"] == 1


def test_keys_expire_after_24_hours(client: stripe.StripeClient, standin) -> None:
    first = client.v1.customers.create({"name": "a"}, {"idempotency_key": "k-expiring"})
    standin.advance_clock(24 * 3600 + 1)
    second = client.v1.customers.create({"name": "a"}, {"idempotency_key": "k-expiring"})
    assert second.id != first.id


def test_errors_from_a_request_that_ran_are_replayed_too(client: stripe.StripeClient) -> None:
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as exc:
            client.v1.invoices.create({"customer": "cus_nobody"}, {"idempotency_key": "inv-1"})
    assert exc.value.headers.get("idempotent-replayed") == "true"
