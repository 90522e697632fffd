"""The dashboard's own cards and charts, registered the same way other apps add theirs."""

from datetime import date

from accounts.models import ApiKey, AuditLog, User
from dashboard import selectors
from dashboard.registry import KpiCard, kpi, series


@kpi("users", order=1)
def users() -> KpiCard:
    counts = selectors.platform_counts()
    return KpiCard(label="Users", value=f"{counts.users:,}", hint=f"in {counts.organizations:,} organizations")


@kpi("active_keys", order=2)
def active_keys() -> KpiCard:
    return KpiCard(label="Active API keys", value=f"{selectors.platform_counts().active_keys:,}",
                   hint="not revoked, not expired")


@kpi("audit_24h", order=3)
def audit_events() -> KpiCard:
    return KpiCard(label="Audit events (24 h)", value=f"{selectors.platform_counts().audit_events_24h:,}",
                   href="/dashboard/audit/")


@series("signups", label="Sign-ups", chart="accounts", chart_title="Sign-ups and new API keys per day")
def signups_per_day(*, since: date) -> dict[date, float]:
    return selectors.per_day(User.objects.all(), "date_joined", since=since)


@series("keys_created", label="API keys created", chart="accounts")
def keys_per_day(*, since: date) -> dict[date, float]:
    return selectors.per_day(ApiKey.objects.all(), "created_at", since=since)


@series("failed_logins", label="Failed logins", chart="security", chart_title="Failed logins per day")
def failed_logins_per_day(*, since: date) -> dict[date, float]:
    return selectors.per_day(AuditLog.objects.filter(action="user.login_failed"), "created_at", since=since)
