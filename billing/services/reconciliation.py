"""Reconciliation: our ledger against Stripe's meter totals, hour by hour, and the fixes.

Per buyer x plan dimension (meter) x closed hour in the look-back range:
- equal: every window of the hour is confirmed (also a pending one whose answer was lost);
- Stripe has less: the hour's unsent windows are superseded (never sent again) and one
  correction event for the difference is sent, with a new identifier inside the same hour;
- Stripe has more: reported, not fixed (a credit note is a person's decision).
Each run is recorded with its differences; the meter lock keeps usage sync out meanwhile.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import stripe
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from billing.models import ReconciliationRun, StripeCustomer, StripePrice, UsageWindow
from billing.selectors.quantities import hourly_quantities
from billing.services.usage_sync import (
    closed_until,
    meter_lock,
    usage_sync,
    window_identifier,
    window_send,
)
from billing.stripe_client import require_client, stripe_enabled

log = logging.getLogger(__name__)
Meter = tuple[int, int, str]  # (organization id, plan id, billed dimension)


def _stripe_hours(*, price: StripePrice, customer: StripeCustomer, since: datetime, until: datetime
                  ) -> dict[datetime, Decimal]:
    summaries = require_client().v1.billing.meters.event_summaries.list(
        price.meter_id, {"customer": customer.stripe_id, "start_time": int(since.timestamp()),
                         "end_time": int(until.timestamp()), "value_grouping_window": "hour", "limit": 100})
    return {datetime.fromtimestamp(s.start_time, tz=UTC): Decimal(str(s.aggregated_value))
            for s in summaries.auto_paging_iter()}


def _fix_hour(*, meter: Meter, hour: datetime, missing: Decimal, timestamp: int, now: datetime) -> bool:
    organization_id, plan_id, dimension = meter
    hour_windows = UsageWindow.objects.filter(organization_id=organization_id, plan_id=plan_id, dimension=dimension,
                                              hour=hour)
    hour_windows.filter(state=UsageWindow.State.PENDING).update(state=UsageWindow.State.SUPERSEDED)
    seq = hour_windows.aggregate(m=Max("seq"))["m"]
    seq = 0 if seq is None else seq + 1
    window = UsageWindow.objects.create(
        organization_id=organization_id, plan_id=plan_id, dimension=dimension, hour=hour, seq=seq,
        quantity=missing, timestamp=timestamp,
        identifier=window_identifier(organization_id=organization_id, plan_id=plan_id, hour=hour, seq=seq,
                                     dimension=dimension))
    try:
        return window_send(window=window, now=now)
    except stripe.StripeError:
        return False  # stays pending; usage sync sends it with the same identifier


def reconcile_meter(*, run: ReconciliationRun, meter: Meter, local: dict[datetime, tuple[Decimal, int]],
                    now: datetime) -> None:
    """`meter`: (organization, plan, dimension); `local`: hour -> (quantity, time of the hour's
    last event), from the ledger."""
    organization_id, plan_id, dimension = meter
    customer = StripeCustomer.objects.filter(organization_id=organization_id).first()
    price = StripePrice.objects.filter(plan_id=plan_id, dimension=dimension).first()
    with meter_lock(organization_id=organization_id, plan_id=plan_id, dimension=dimension):
        if customer is None or price is None:
            remote: dict[datetime, Decimal] = {}
        else:
            remote = _stripe_hours(price=price, customer=customer, since=run.range_start, until=run.range_end)
        for hour in sorted(set(local) | {h for h, v in remote.items() if v}):
            (ours, last), theirs = local.get(hour, (Decimal(0), 0)), remote.get(hour, Decimal(0))
            run.checked += 1
            windows = UsageWindow.objects.filter(organization_id=organization_id, plan_id=plan_id,
                                                 dimension=dimension, hour=hour)
            if ours == theirs:
                windows.filter(state__in=[UsageWindow.State.PENDING, UsageWindow.State.SENT]).update(
                    state=UsageWindow.State.CONFIRMED)
                continue
            diff = {"organization_id": organization_id, "plan_id": plan_id, "dimension": dimension,
                    "hour": hour.isoformat(),
                    "local": str(ours), "stripe": str(theirs), "difference": str(ours - theirs)}
            if ours > theirs and customer is not None and price is not None:
                fixed = _fix_hour(meter=meter, hour=hour, missing=ours - theirs, timestamp=last, now=now)
                diff["action"] = "sent correction" if fixed else "correction pending"
                run.fixed += fixed
            elif ours > theirs:
                diff["action"] = "not in Stripe yet (no customer or meter); usage sync creates them"
            else:
                diff["action"] = "Stripe counts more than the ledger: review and credit by hand"
            run.differences.append(diff)


def reconciliation_run(*, now: datetime | None = None, hours: int | None = None) -> ReconciliationRun:
    """Compares and fixes the last `hours` closed hours (default BILLING_RECONCILE_LOOKBACK_HOURS)."""
    now = now or timezone.now()
    end = closed_until(now=now)
    start = end - timedelta(hours=hours or settings.BILLING_RECONCILE_LOOKBACK_HOURS)
    run = ReconciliationRun.objects.create(range_start=start, range_end=end)
    if not stripe_enabled():
        run.status, run.finished_at = ReconciliationRun.Status.OK, timezone.now()
        run.error = "Stripe is not configured: the local ledger is the only record."
        run.save()
        return run
    try:
        usage_sync(now=now)  # send what is due first, so only real gaps remain
        local: dict[Meter, dict[datetime, tuple[Decimal, int]]] = defaultdict(dict)
        for row in hourly_quantities(since=start, until=end):
            # A correction carries the hour's last usage time: inside the hour, never in the future.
            meter = (row["organization_id"], row["plan_id"], row["dimension"])
            local[meter][row["hour"]] = (row["quantity"], int(row["last"].timestamp()))
        sent = (UsageWindow.objects.filter(hour__gte=start, hour__lt=end)
                .values_list("organization_id", "plan_id", "dimension").distinct().order_by())
        for meter in sorted(set(local) | set(sent)):
            reconcile_meter(run=run, meter=meter, local=local.get(meter, {}), now=now)
        unresolved = [d for d in run.differences if d.get("action") != "sent correction"]
        run.status = ReconciliationRun.Status.DIFFERENCES if unresolved else ReconciliationRun.Status.OK
    except Exception as exc:
        log.exception("reconciliation failed")
        run.status, run.error = ReconciliationRun.Status.FAILED, f"{type(exc).__name__}: {exc}"[:500]
    run.finished_at = timezone.now()
    run.save()
    return run
