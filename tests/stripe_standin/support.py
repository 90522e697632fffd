"""Helpers the stand-in tests share (kept out of conftest.py so tests can import them)."""

from __future__ import annotations

from typing import Any

import stripe

from stripe_standin import StripeStandin

WEBHOOK_SECRET = "whsec_standin_test_secret"


def make_client(standin: StripeStandin, **kwargs: Any) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_standin",
        base_addresses={"api": standin.base_url, "connect": standin.base_url,
                        "files": standin.base_url, "meter_events": standin.base_url},
        **kwargs,
    )
