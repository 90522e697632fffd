"""The one place that builds the Stripe client. `STRIPE_API_KEY` unset = local-ledger mode:
`stripe_client()` answers None and nothing calls Stripe."""

from __future__ import annotations

import functools

import stripe
from django.conf import settings

# Answers that mean "try again later with the same request": the SDK already retried these
# `STRIPE_MAX_NETWORK_RETRIES` times with the same idempotency key before raising.
RETRYABLE = (stripe.APIConnectionError, stripe.RateLimitError)


def stripe_enabled() -> bool:
    return bool(settings.STRIPE_API_KEY)


@functools.lru_cache(maxsize=4)
def _build(api_key: str, api_base: str, retries: int) -> stripe.StripeClient:
    kwargs: dict = {"max_network_retries": retries}
    if api_base:
        kwargs["base_addresses"] = {name: api_base for name in ("api", "connect", "files", "meter_events")}
    return stripe.StripeClient(api_key, **kwargs)


def stripe_client() -> stripe.StripeClient | None:
    if not stripe_enabled():
        return None
    return _build(settings.STRIPE_API_KEY, settings.STRIPE_API_BASE, settings.STRIPE_MAX_NETWORK_RETRIES)


def require_client() -> stripe.StripeClient:
    client = stripe_client()
    if client is None:
        raise RuntimeError("Stripe is not configured (STRIPE_API_KEY is empty); this runs in local-ledger mode.")
    return client


def is_retryable(exc: Exception) -> bool:
    """429s, 5xx, timeouts and lost connections: the same call may succeed later."""
    if isinstance(exc, RETRYABLE):
        return True
    return isinstance(exc, stripe.StripeError) and (exc.http_status or 0) >= 500


def is_duplicate_meter_event(exc: Exception) -> bool:
    """Stripe answers a repeated identifier with a 400 without an error code; only the message says it."""
    return (isinstance(exc, stripe.InvalidRequestError)
            and "An event already exists with identifier" in (exc.user_message or str(exc)))
