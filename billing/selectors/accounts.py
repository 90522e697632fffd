"""Is a buyer organization's account in good standing? Read on every inference call, so cached.

An organization becomes delinquent when Stripe reports a failed invoice payment; after
`DELINQUENCY_GRACE_DAYS` its calls answer 402 until an invoice is paid."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import Organization
from billing.models import StripeCustomer

_TTL = 5.0  # seconds; a payment lifts the block within this long in every process
_cache: dict[int, tuple[float, datetime | None]] = {}


def delinquent_since(*, organization: Organization) -> datetime | None:
    hit = _cache.get(organization.pk)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    since = (StripeCustomer.objects.filter(organization_id=organization.pk)
             .values_list("delinquent_since", flat=True).first())
    _cache[organization.pk] = (now + _TTL, since)
    return since


def org_is_delinquent(*, organization: Organization, now: datetime | None = None) -> bool:
    """True once a failed payment is older than the grace period (calls should answer 402)."""
    since = delinquent_since(organization=organization)
    if since is None:
        return False
    return (now or timezone.now()) - since >= timedelta(days=settings.DELINQUENCY_GRACE_DAYS)


def delinquency_cache_forget(*, organization_id: int | None = None) -> None:
    if organization_id is None:
        _cache.clear()
    else:
        _cache.pop(organization_id, None)


def require_good_standing(*, organization: Organization) -> None:
    """The gateway's check: 402 for a buyer whose failed payment is past the grace period."""
    if org_is_delinquent(organization=organization):
        from core.errors import PaymentRequired

        raise PaymentRequired(
            "A payment for your Modelbay invoice failed and the grace period has ended; update your payment "
            "method (POST /api/v1/billing/checkout) or pay the open invoice, and calls resume within seconds.",
            code="payment_overdue", details={"delinquent_since": delinquent_since(organization=organization)
                                             .isoformat()})
