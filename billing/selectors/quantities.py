"""Billed quantities: what each meter of a plan counts, summed from the usage ledger.

The same function feeds Stripe's meters (usage sync, reconciliation) and local invoices, so
the two paths bill the same quantity, and the amount of a line is computed the way Stripe
computes it: quantity x unit price, rounded half-up to a whole minor unit, once per line.

- payg per call: calls;  per 1k units: units / 1000;  per compute second: compute_ms / 1000
- payg per million tokens: two dimensions, input tokens and output tokens, each counted in
  whole tokens and priced per token (the per-million price / 10^6). Stripe's meters take only
  whole-number values, and tokens x (price / 10^6) is exactly (tokens / 10^6) x price.
- subscription: overage calls (those the pricing engine charged for, after the included ones)
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncHour

from billing import pricing
from billing.models import UsageEvent
from marketplace.models import Plan

PAID_KINDS = (Plan.Kind.PAYG, Plan.Kind.SUBSCRIPTION)
SIX_PLACES = Decimal("0.000001")

_AGGREGATES = {
    "calls": Count("id"), "overage_calls": Count("id", filter=Q(amount_minor__gt=0)),
    "units": Sum("units"), "compute_ms": Sum("compute_ms"), "last": Max("created_at"),
    "input_tokens": Sum("input_tokens"), "output_tokens": Sum("output_tokens"),
}


def quantity_from(*, plan: Plan, row: dict, dimension: str = pricing.DEFAULT) -> Decimal:
    if dimension == pricing.INPUT_TOKENS:
        value = Decimal(row["input_tokens"] or 0)
    elif dimension == pricing.OUTPUT_TOKENS:
        value = Decimal(row["output_tokens"] or 0)
    elif plan.kind == Plan.Kind.SUBSCRIPTION:
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


def _per_dimension(rows, plans: dict[int, Plan]) -> list[dict]:
    return [{**r, "plan": plans[r["plan_id"]], "dimension": dimension,
             "quantity": quantity_from(plan=plans[r["plan_id"]], row=r, dimension=dimension)}
            for r in rows for dimension in pricing.dimensions(plans[r["plan_id"]])]


def hourly_quantities(*, since: datetime, until: datetime, **filters) -> list[dict]:
    """One row per (organization, plan, dimension, hour) with usage: quantity and the last
    event's time."""
    rows = list(billable_events(since=since, until=until, **filters)
                .annotate(hour=TruncHour("created_at"))
                .values("organization_id", "plan_id", "hour").annotate(**_AGGREGATES).order_by("hour"))
    return _per_dimension(rows, Plan.objects.in_bulk({r["plan_id"] for r in rows}))


def plan_quantities(*, since: datetime, until: datetime, **filters) -> list[dict]:
    """One row per (organization, plan, dimension) over a period, with its billed quantity."""
    rows = list(billable_events(since=since, until=until, **filters)
                .values("organization_id", "plan_id").annotate(**_AGGREGATES).order_by("plan_id"))
    plans = Plan.objects.select_related("model__organization").in_bulk({r["plan_id"] for r in rows})
    return _per_dimension(rows, plans)
