"""Stripe API resources served by the stand-in, one module per area.

Each module exposes `ROUTES`: (method, path pattern, handler). A handler takes the
stand-in (`app`: store, emit, base_url) and the parsed request, and returns the object
to send back; it raises `StripeError` for Stripe-shaped failures.
"""

from __future__ import annotations

from . import catalog, checkout, connect, events, invoices, metering, payments, subscriptions
from .common import Req, Route

ROUTES: list[Route] = [
    *catalog.ROUTES,
    *metering.ROUTES,
    *subscriptions.ROUTES,
    *invoices.ROUTES,
    *payments.ROUTES,
    *checkout.ROUTES,
    *connect.ROUTES,
    *events.ROUTES,
]

__all__ = ["ROUTES", "Req", "Route"]
