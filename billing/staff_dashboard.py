"""Billing and inference cards of the staff dashboard: calls, revenue, buyers, latency, reconciliation."""

from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

from billing.models import UsageEvent
from billing.selectors.earnings import reconciliation_runs
from billing.selectors.usage import (
    ledger_active_buyers,
    ledger_amount_by_currency,
    ledger_calls,
    ledger_recent_compute_ms,
)
from dashboard import selectors as dashboard_selectors
from dashboard.registry import KpiCard, kpi, section, series


def _today_start() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


@kpi("calls_today", order=10)
def calls_today() -> KpiCard:
    now = timezone.now()
    return KpiCard(label="Calls today", value=f"{ledger_calls(since=_today_start(), until=now + timedelta(seconds=1)):,}",
                   hint="billable calls in the usage ledger")


@kpi("revenue_month", order=20)
def revenue_month() -> KpiCard:
    now = timezone.now()
    month = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = ledger_amount_by_currency(since=month, until=now)
    if not rows:
        return KpiCard(label="Revenue this month", value="0.00", hint="metered usage billed to buyers")
    first, *others = rows
    hint = ", ".join(f"{r['total'] / 100:,.2f} {r['currency'].upper()}" for r in others) or "metered usage billed to buyers"
    return KpiCard(label="Revenue this month", value=f"{first['total'] / 100:,.2f} {first['currency'].upper()}", hint=hint)


@kpi("active_buyers", order=30)
def active_buyers() -> KpiCard:
    since = timezone.now() - timedelta(days=30)
    buyers = ledger_active_buyers(since=since)
    return KpiCard(label="Active buyers", value=f"{buyers:,}", hint="organizations with calls in 30 days")


@kpi("latency_p95", order=60)
def latency_p95() -> KpiCard:
    # The ledger records each call's compute time; the newest 5,000 of the last day are plenty for a p95.
    since = timezone.now() - timedelta(days=1)
    times = sorted(ledger_recent_compute_ms(since=since, limit=5000))
    if not times:
        return KpiCard(label="p95 latency", value="—", hint="no calls in 24 h")
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    return KpiCard(label="p95 latency", value=f"{p95:,.1f} ms", hint=f"compute time of {len(times):,} call{'' if len(times) == 1 else 's'} in 24 h")


@series("calls", label="Calls", chart="usage", chart_title="Billable calls per day")
def calls_per_day(*, since: date) -> dict[date, float]:
    return dashboard_selectors.per_day(UsageEvent.objects.all(), "created_at", since=since)


@section("reconciliation", title="Reconciliation runs", order=40)
def reconciliation() -> dict:
    runs = reconciliation_runs(limit=10)
    return {
        "columns": ["Started", "Status", "Range", "Checked", "Fixed", "Differences"],
        "rows": [[f"{r.started_at:%Y-%m-%d %H:%M}", r.status, f"{r.range_start:%m-%d %H:%M} – {r.range_end:%m-%d %H:%M}",
                  r.checked, r.fixed, len(r.differences or [])] for r in runs],
        "empty": "No reconciliation has run yet (it runs hourly when Stripe is configured).",
    }


@kpi("stripe", order=25)
def stripe_status() -> KpiCard:
    from billing.stripe_client import stripe_enabled

    if not stripe_enabled():
        return KpiCard(label="Stripe", value="Not configured", tone="warn",
                       hint="local-ledger mode: invoices are computed locally, payouts wait; set STRIPE_API_KEY")
    from billing.models import StripeEvent, UsageWindow

    pending = UsageWindow.objects.filter(state=UsageWindow.State.PENDING).count()
    failed = StripeEvent.objects.filter(status=StripeEvent.Status.FAILED).count()
    return KpiCard(label="Stripe", value="Connected", tone="bad" if failed else ("warn" if pending else "ok"),
                   hint=f"{pending} usage windows to send, {failed} webhook events failing")
