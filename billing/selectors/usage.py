"""Reads over the usage ledger and the limits a buyer set."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce, TruncDay

from accounts.models import ApiKey, Organization
from billing.models import Notification, UsageEvent, UsageLimit

_LIMITS_TTL = 5.0
_limits_cache: dict[tuple[int, int], tuple[float, Limits]] = {}


@dataclass(frozen=True)
class Limits:
    org: UsageLimit | None
    key: UsageLimit | None


def limits_for(*, organization: Organization, api_key: ApiKey | None) -> Limits:
    """The org-wide and per-key limits, cached a few seconds per process (hot path)."""
    cache_key = (organization.pk, api_key.pk if api_key else 0)
    hit = _limits_cache.get(cache_key)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    rows = UsageLimit.objects.filter(organization=organization)
    org = key = None
    for row in rows:
        if row.api_key_id is None:
            org = row
        elif api_key is not None and row.api_key_id == api_key.pk:
            key = row
    limits = Limits(org=org, key=key)
    _limits_cache[cache_key] = (now + _LIMITS_TTL, limits)
    return limits


def limits_cache_clear() -> None:
    _limits_cache.clear()


def ledger_calls(*, since: datetime, until: datetime, **filters) -> int:
    return UsageEvent.objects.filter(created_at__gte=since, created_at__lt=until, **filters).count()


def ledger_amount(*, since: datetime, until: datetime, **filters) -> Decimal:
    return UsageEvent.objects.filter(created_at__gte=since, created_at__lt=until, **filters).aggregate(
        total=Coalesce(Sum("amount_minor"), Decimal(0))
    )["total"]


def usage_summary(*, organization: Organization, since: datetime, until: datetime) -> list[dict]:
    """Calls, units and amount per model and currency for an organization's period."""
    return list(
        UsageEvent.objects.filter(organization=organization, created_at__gte=since, created_at__lt=until)
        .values("model_id", "currency")
        .annotate(calls=Count("id"), units=Sum("units"), amount_minor=Sum("amount_minor"))
        .order_by("model_id", "currency")
    )


def notifications_for(*, organization: Organization | None) -> list[Notification]:
    return list(Notification.objects.filter(organization=organization))


def vendor_usage_by_day(*, vendor: Organization, since: datetime, until: datetime) -> list[dict]:
    """Calls and billed amount per day for a vendor's own models, across all buyers."""
    rows = (UsageEvent.objects.filter(model__organization=vendor, created_at__gte=since, created_at__lt=until)
            .annotate(day=TruncDay("created_at")).values("day", "model__slug", "currency")
            .annotate(calls=Count("id"), amount_minor=Sum("amount_minor")).order_by("day"))
    return [{"day": r["day"].date().isoformat(), "model": r["model__slug"], "currency": r["currency"],
             "calls": r["calls"], "amount_minor": r["amount_minor"]} for r in rows]


def ledger_amount_by_currency(*, since: datetime, until: datetime) -> list[dict]:
    """[{"currency", "total"}], largest first: platform revenue for the staff dashboard."""
    return list(UsageEvent.objects.filter(created_at__gte=since, created_at__lte=until).values("currency")
                .annotate(total=Sum("amount_minor")).order_by("-total"))


def ledger_active_buyers(*, since: datetime) -> int:
    return UsageEvent.objects.filter(created_at__gte=since).values("organization").distinct().count()


def ledger_recent_compute_ms(*, since: datetime, limit: int = 5000) -> list[float]:
    """Compute times of the newest calls since `since`, enough for a percentile."""
    return [float(ms) for ms in UsageEvent.objects.filter(created_at__gte=since)
            .order_by("-created_at").values_list("compute_ms", flat=True)[:limit]]
