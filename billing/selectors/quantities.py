"""Billed quantities: what a plan's meter counts, summed from the usage ledger.

The same function feeds Stripe's meters (usage sync, reconciliation) and local invoices, so
the two paths bill the same quantity, and the amount of a line is computed the way Stripe
computes it: quantity x unit price, rounded half-up to a whole minor unit, once per line.

- payg per call: calls;  per 1k units: units / 1000;  per compute second: compute_ms / 1000
- subscription: overage calls (those the pricing engine charged for, after the included ones)
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncHour

from billing.models import UsageEvent
from marketplace.models import Plan

PAID_KINDS = (Plan.Kind.PAYG, Plan.Kind.SUBSCRIPTION)
SIX_PLACES = Decimal("0.000001")

_AGGREGATES = {
    "calls": Count("id"), "overage_calls": Count("id", filter=Q(amount_minor__gt=0)),
    "units": Sum("units"), "compute_ms": Sum("compute_ms"), "last": Max("created_at"),
}


def quantity_from(*, plan: Plan, row: dict) -> Decimal:
    if plan.kind == Plan.Kind.SUBSCRIPTION:
        value = Decimal(row["overage_calls"] or 0)
    elif plan.unit == Plan.Unit.THOUSAND_UNITS:
        value = Decimal(row["units"] or 0) / 1000
    elif plan.unit == Plan.Unit.COMPUTE_SECOND:
        value = Decimal(row["compute_ms"] or 0) / 1000
    else:
        value = Decimal(row["calls"] or 0)
    return value.quantize(SIX_PLACES)


def line_amount(*, quantity: Decimal, unit_price_minor: int | Decimal) -> int:
    return int((quantity * Decimal(unit_price_minor)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def billable_events(*, since: datetime, until: datetime, **filters) -> QuerySet:
    return UsageEvent.objects.filter(created_at__gte=since, created_at__lt=until, plan__kind__in=PAID_KINDS,
                                     **filters)


def hourly_quantities(*, since: datetime, until: datetime, **filters) -> list[dict]:
    """One row per (organization, plan, hour) with usage: quantity and the last event's time."""
    rows = (billable_events(since=since, until=until, **filters)
            .annotate(hour=TruncHour("created_at"))
            .values("organization_id", "plan_id", "hour").annotate(**_AGGREGATES).order_by("hour"))
    plans = {p.pk: p for p in Plan.objects.filter(pk__in={r["plan_id"] for r in rows})}
    return [{**r, "plan": plans[r["plan_id"]], "quantity": quantity_from(plan=plans[r["plan_id"]], row=r)}
            for r in rows]


def plan_quantities(*, since: datetime, until: datetime, **filters) -> list[dict]:
    """One row per (organization, plan) over a period, with its billed quantity."""
    rows = (billable_events(since=since, until=until, **filters)
            .values("organization_id", "plan_id").annotate(**_AGGREGATES).order_by("plan_id"))
    plans = {p.pk: p for p in Plan.objects.filter(pk__in={r["plan_id"] for r in rows}).select_related("model")}
    return [{**r, "plan": plans[r["plan_id"]], "quantity": quantity_from(plan=plans[r["plan_id"]], row=r)}
            for r in rows]
