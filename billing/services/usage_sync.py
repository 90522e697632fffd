"""Closed usage hours -> Stripe meter events, each sent under a fixed identifier.

A window is one buyer x plan dimension (meter) x hour: a plan priced by one number has one
dimension, a token plan two (input and output tokens). It is built once the hour ended (plus a
grace for late commits), then sent; calls for one customer and meter go one at a time (a Redis
lock), as Stripe asks. A 429/5xx/timeout leaves the window pending and the next run sends it again with
the same identifier, so Stripe counts it once. A window still pending 23 hours after its first
attempt is never re-sent: past Stripe's 24 h dedupe horizon a resend could count twice, so the
reconciliation decides from Stripe's totals.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Organization
from billing import pricing
from billing.models import UsageWindow
from billing.selectors.quantities import hourly_quantities
from billing.services.stripe_sync import customer_ensure, plan_price_ensure
from billing.stripe_client import (
    is_duplicate_meter_event,
    is_retryable,
    require_client,
    stripe_enabled,
)
from core.redis import get_redis

log = logging.getLogger(__name__)
HOUR = timedelta(hours=1)
RESEND_HORIZON = timedelta(hours=23)
MAX_EVENT_AGE = timedelta(days=35)


def window_identifier(*, organization_id: int, plan_id: int, hour: datetime, seq: int,
                      dimension: str = pricing.DEFAULT) -> str:
    """Windows of a plan's default dimension keep the identifiers they had before dimensions."""
    part = "" if dimension == pricing.DEFAULT else f"{dimension}-"
    return f"mbw-{organization_id}-{plan_id}-{part}{int(hour.timestamp())}-{seq}"


def meter_lock(*, organization_id: int, plan_id: int, dimension: str = pricing.DEFAULT, timeout: int = 300):
    """Held while talking to Stripe about one customer's meter (sync and reconciliation)."""
    part = "" if dimension == pricing.DEFAULT else f":{dimension}"
    return get_redis().lock(f"lock:billing:meter:{organization_id}:{plan_id}{part}", timeout=timeout,
                            blocking_timeout=timeout)


def closed_until(*, now: datetime, flush: bool = False) -> datetime:
    """The end of the last hour that may be sent. A flush (an invoice is being finalized, a
    subscription ends) sends the open hour too; usage arriving later in it becomes a correction."""
    if flush:
        return now
    grace = timedelta(seconds=settings.BILLING_WINDOW_GRACE_SECONDS)
    return (now - grace).replace(minute=0, second=0, microsecond=0)


def windows_build(*, now: datetime, organization: Organization | None = None, flush: bool = False) -> int:
    """Creates the first (seq 0) window of every closed hour and dimension with usage that has none yet."""
    until = closed_until(now=now, flush=flush)
    since = until - timedelta(hours=settings.BILLING_RECONCILE_LOOKBACK_HOURS)
    filters = {"organization": organization} if organization else {}
    created = 0
    for row in hourly_quantities(since=since, until=until, **filters):
        if row["quantity"] <= 0:
            continue
        try:
            with transaction.atomic():
                UsageWindow.objects.create(
                    organization_id=row["organization_id"], plan_id=row["plan_id"], dimension=row["dimension"],
                    hour=row["hour"], seq=0, quantity=row["quantity"], timestamp=int(row["last"].timestamp()),
                    identifier=window_identifier(organization_id=row["organization_id"], plan_id=row["plan_id"],
                                                 hour=row["hour"], seq=0, dimension=row["dimension"]))
            created += 1
        except IntegrityError:  # built before; late usage in that hour is the reconciliation's job
            pass
    return created


def window_send(*, window: UsageWindow, now: datetime) -> bool:
    """One meter event for the window; True when Stripe has it. Call with the meter lock held."""
    if now - (window.first_attempt_at or now) > RESEND_HORIZON or now.timestamp() - window.timestamp > \
            MAX_EVENT_AGE.total_seconds():
        return False  # unknown fate past the dedupe horizon: reconciliation decides
    customer = customer_ensure(organization=window.organization)
    price = plan_price_ensure(plan=window.plan, dimension=window.dimension)
    UsageWindow.objects.filter(pk=window.pk, first_attempt_at__isnull=True).update(first_attempt_at=now)
    UsageWindow.objects.filter(pk=window.pk).update(attempts=F("attempts") + 1)
    try:
        require_client().v1.billing.meter_events.create({
            "event_name": price.event_name, "identifier": window.identifier, "timestamp": window.timestamp,
            "payload": {"stripe_customer_id": customer.stripe_id, "value": format(window.quantity.normalize(), "f")},
        })
    except stripe.StripeError as exc:
        if not is_duplicate_meter_event(exc):
            UsageWindow.objects.filter(pk=window.pk).update(last_error=f"{type(exc).__name__}: {exc}"[:300])
            if is_retryable(exc):
                raise
            log.warning("meter event %s refused: %s", window.identifier, exc)
            return False
    UsageWindow.objects.filter(pk=window.pk, state=UsageWindow.State.PENDING).update(
        state=UsageWindow.State.SENT, sent_at=timezone.now(), last_error="")
    return True


def meter_send_pending(*, organization_id: int, plan_id: int, now: datetime,
                       dimension: str = pricing.DEFAULT) -> tuple[int, int]:
    """Sends one customer's pending windows for one meter, in order; (sent, failed)."""
    sent = failed = 0
    with meter_lock(organization_id=organization_id, plan_id=plan_id, dimension=dimension):
        pending = UsageWindow.objects.filter(organization_id=organization_id, plan_id=plan_id, dimension=dimension,
                                             state=UsageWindow.State.PENDING).select_related("organization", "plan")
        for window in pending.order_by("hour", "seq"):
            try:
                sent += window_send(window=window, now=now)
            except stripe.StripeError:
                failed += 1  # Stripe is struggling: the next run resends with the same identifier
                break
    return sent, failed


def usage_sync(*, organization: Organization | None = None, now: datetime | None = None,
               flush: bool = False) -> dict[str, int]:
    """Builds closed windows and sends every pending one. Local-ledger mode: nothing to do."""
    if not stripe_enabled():
        return {"built": 0, "sent": 0, "failed": 0}
    now = now or timezone.now()
    built = windows_build(now=now, organization=organization, flush=flush)
    groups = UsageWindow.objects.filter(state=UsageWindow.State.PENDING)
    if organization is not None:
        groups = groups.filter(organization=organization)
    sent = failed = 0
    meters = groups.values_list("organization_id", "plan_id", "dimension").distinct().order_by()
    for org_id, plan_id, dimension in meters:
        s, f = meter_send_pending(organization_id=org_id, plan_id=plan_id, dimension=dimension, now=now)
        sent, failed = sent + s, failed + f
    return {"built": built, "sent": sent, "failed": failed}

