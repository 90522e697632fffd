"""Reads for the staff dashboard: platform counts, queue depths, worker and beat health, the
audit log. Each health probe has a short timeout and reports "unknown" rather than hanging
the page when Redis or the workers do not answer."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import ApiKey, AuditLog, Organization, User
from core.redis import get_redis

# The Celery queues whose backlog staff watch (config/settings/base.py CELERY_TASK_QUEUES).
WATCHED_QUEUES = ["default", "convert", "infer.cpu"]
# Beat sends core.tasks.heartbeat every minute; older than this and beat counts as down.
BEAT_STALE_AFTER = timedelta(minutes=3)
WORKER_PING_TIMEOUT = 1.0


@dataclass(frozen=True)
class PlatformCounts:
    users: int
    organizations: int
    active_keys: int
    audit_events_24h: int


def platform_counts() -> PlatformCounts:
    now = timezone.now()
    return PlatformCounts(
        users=User.objects.filter(is_active=True).count(),
        organizations=Organization.objects.count(),
        active_keys=ApiKey.objects.filter(revoked_at__isnull=True).exclude(expires_at__lte=now).count(),
        audit_events_24h=AuditLog.objects.filter(created_at__gte=now - timedelta(hours=24)).count(),
    )


def queue_depths() -> dict[str, int | None]:
    """Messages waiting per queue (Redis LLEN of the Celery list); None when Redis is down."""
    try:
        pipe = get_redis().pipeline()
        for queue in WATCHED_QUEUES:
            pipe.llen(queue)
        return dict(zip(WATCHED_QUEUES, pipe.execute(), strict=True))
    except Exception:  # noqa: BLE001 - any Redis failure shows as "unknown", the page still renders
        return dict.fromkeys(WATCHED_QUEUES)


@dataclass(frozen=True)
class WorkerHealth:
    reachable: bool  # False when the broker itself could not be asked
    workers: list[str]


def worker_health(timeout: float = WORKER_PING_TIMEOUT) -> WorkerHealth:
    """Broadcast `ping` over the broker; every live worker answers within the timeout."""
    from config.celery_app import app

    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception:  # noqa: BLE001 - broker unreachable
        return WorkerHealth(reachable=False, workers=[])
    return WorkerHealth(reachable=True, workers=sorted(name for reply in replies for name in reply))


@dataclass(frozen=True)
class BeatHealth:
    last_heartbeat: datetime | None
    healthy: bool


def beat_health(now: datetime | None = None) -> BeatHealth:
    now = now or timezone.now()
    try:
        raw = cache.get("beat:last_heartbeat")
    except Exception:  # noqa: BLE001 - cache (Redis) down
        raw = None
    last = parse_datetime(raw) if isinstance(raw, str) else None
    return BeatHealth(last_heartbeat=last, healthy=bool(last and now - last <= BEAT_STALE_AFTER))


def audit_actions() -> list[str]:
    return list(AuditLog.objects.order_by("action").values_list("action", flat=True).distinct())


def audit_log_search(
    *, action: str = "", organization: str = "", actor: str = "",
    since: date | None = None, until: date | None = None,
) -> QuerySet[AuditLog]:
    """Filters combine with AND; organization matches a slug, actor an email (both partial)."""
    entries = AuditLog.objects.select_related("actor", "organization")
    if action:
        entries = entries.filter(action=action)
    if organization:
        entries = entries.filter(organization__slug__icontains=organization)
    if actor:
        entries = entries.filter(actor__email__icontains=actor)
    if since:
        entries = entries.filter(created_at__date__gte=since)
    if until:
        entries = entries.filter(created_at__date__lte=until)
    return entries


def per_day(queryset: QuerySet, field: str, *, since: date) -> dict[date, float]:
    rows = (
        queryset.filter(**{f"{field}__date__gte": since})
        .annotate(day=TruncDate(field)).values("day").annotate(n=Count("id")).order_by("day")
    )
    return {row["day"]: float(row["n"]) for row in rows}
