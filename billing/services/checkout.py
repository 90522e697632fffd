"""A buyer saves a payment method through a Stripe Checkout session in setup mode."""

from __future__ import annotations

from django.conf import settings

from accounts.models import Organization
from billing.services.stripe_sync import customer_ensure
from billing.stripe_client import require_client, stripe_enabled
from core.errors import ServiceUnavailable


def checkout_setup_link(*, organization: Organization, success_url: str = "", cancel_url: str = "") -> dict:
    if not stripe_enabled():
        raise ServiceUnavailable("Stripe is not configured here, so there is no payment method to set up; "
                                 "usage is invoiced from the local ledger.", code="stripe_not_configured")
    customer = customer_ensure(organization=organization)
    session = require_client().v1.checkout.sessions.create({
        "mode": "setup", "customer": customer.stripe_id, "currency": "usd",
        "success_url": success_url or f"{settings.SITE_URL}/billing/payment-method/saved",
        "cancel_url": cancel_url or f"{settings.SITE_URL}/billing/payment-method",
        "metadata": {"organization_id": str(organization.pk)},
    })
    return {"id": session.id, "url": session.url}
