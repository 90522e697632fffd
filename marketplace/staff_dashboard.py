"""Marketplace cards and sections of the staff dashboard: vendors, conversion health, moderation."""

from datetime import date, timedelta

from django.db.models import Q
from django.utils import timezone

from dashboard import selectors as dashboard_selectors
from dashboard.registry import KpiCard, kpi, section, series
from marketplace.models import Model, ModelVersion

WINDOW = timedelta(days=30)


@kpi("active_vendors", order=40)
def active_vendors() -> KpiCard:
    vendors = Model.objects.filter(status=Model.Status.PUBLISHED).values("organization").distinct().count()
    listed = Model.objects.filter(status=Model.Status.PUBLISHED).count()
    return KpiCard(label="Active vendors", value=f"{vendors:,}", hint=f"{listed:,} published models")


@kpi("conversion_success", order=50)
def conversion_success() -> KpiCard:
    since = timezone.now() - WINDOW
    finished = ModelVersion.objects.filter(created_at__gte=since, status__in=["ready", "failed", "quarantined"])
    total = finished.count()
    ready = finished.filter(status=ModelVersion.Status.READY).count()
    if not total:
        return KpiCard(label="Conversion success rate", value="—", hint="no finished uploads in 30 days")
    rate = 100 * ready / total
    return KpiCard(label="Conversion success rate", value=f"{rate:.0f}%", hint=f"{ready} of {total} uploads in 30 days",
                   tone="ok" if rate >= 90 else "warn" if rate >= 70 else "bad")


@series("uploads", label="Uploads", chart="pipeline", chart_title="Uploads and failed conversions per day")
def uploads_per_day(*, since: date) -> dict[date, float]:
    return dashboard_selectors.per_day(ModelVersion.objects.all(), "created_at", since=since)


@series("failed_uploads", label="Failed or quarantined", chart="pipeline")
def failed_per_day(*, since: date) -> dict[date, float]:
    return dashboard_selectors.per_day(ModelVersion.objects.filter(status__in=["failed", "quarantined"]),
                                       "created_at", since=since)


@section("failed_versions", title="Failed and quarantined versions", order=20)
def failed_versions() -> dict:
    rows = (ModelVersion.objects.filter(status__in=["failed", "quarantined"])
            .select_related("model__organization").order_by("-updated_at")[:20])
    return {
        "columns": ["Model", "Version", "Status", "Stage", "Reason", "When"],
        "rows": [[v.model.full_name, v.version, v.status, (v.failure or {}).get("stage", "—"),
                  (v.failure or {}).get("reason") or (f"{v.crash_count} runtime crashes" if v.crash_count else "—"),
                  f"{v.updated_at:%Y-%m-%d %H:%M}"] for v in rows],
        "empty": "No failed or quarantined versions.",
    }


@section("moderation", title="Listing moderation", template="dashboard/marketplace/_moderation.html", order=30)
def moderation() -> dict:
    models = (Model.objects.filter(Q(status=Model.Status.PUBLISHED) | Q(status=Model.Status.SUSPENDED))
              .select_related("organization").order_by("status", "-updated_at")[:50])
    return {"models": list(models)}
