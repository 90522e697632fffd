"""Staff dashboard pages. Staff only: anonymous visitors go to the login page, logged-in
non-staff get 403."""

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from core import charts
from dashboard import selectors
from dashboard.registry import PLANNED_KPIS, PLANNED_SECTIONS, KpiCard, registry

logger = logging.getLogger(__name__)
RANGES = {"7": 7, "30": 30, "90": 90}
AUDIT_PAGE_SIZE = 50


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("The dashboard is for Modelbay staff.")
        return view(request, *args, **kwargs)

    return wrapper


def _card(key: str, compute: Callable[[], KpiCard]) -> KpiCard:
    try:
        return compute()
    except Exception:
        # One broken provider must not take the whole dashboard down; the log has the traceback.
        logger.exception("dashboard KPI %s failed", key)
        return KpiCard(label=key.replace("_", " ").capitalize(), value="error", hint="see the server log", tone="bad")


def _section_context(key: str, context: Callable[[], dict]) -> dict:
    try:
        return context()
    except Exception:
        logger.exception("dashboard section %s failed", key)
        return {"rows": [], "empty": "This section failed to load; the server log has the details."}


@staff_required
@never_cache
def index(request: HttpRequest) -> HttpResponse:
    span = RANGES.get(request.GET.get("days", ""), 30)
    until = timezone.localdate()
    since = until - timedelta(days=span - 1)
    cards = [_card(k.key, k.compute) for k in sorted(registry.kpis.values(), key=lambda k: (k.order, k.key))]
    planned = [
        {"label": label, "by": by} for key, (label, by) in PLANNED_KPIS.items() if key not in registry.kpis
    ]
    grouped: dict[str, list[charts.ChartSeries]] = {}
    for one in registry.series.values():
        grouped.setdefault(one.chart, []).append(charts.ChartSeries(label=one.label, points=one.compute(since=since)))
    chart_list = [
        {"key": key, "svg": charts.line_chart(
            title=registry.chart_titles.get(key, key), series=series, since=since, until=until),
         "title": registry.chart_titles.get(key, key)}
        for key, series in grouped.items()
    ]
    sections = [
        {"title": s.title, "template": s.template, "context": _section_context(s.key, s.context)}
        for s in sorted(registry.sections.values(), key=lambda s: (s.order, s.key))
    ]
    planned_sections = [
        {"title": title, "by": by} for key, (title, by) in PLANNED_SECTIONS.items() if key not in registry.sections
    ]
    return render(request, "dashboard/index.html", {
        "cards": cards, "planned": planned, "charts": chart_list, "span": span, "ranges": RANGES,
        "sections": sections, "planned_sections": planned_sections,
        "recent_audit": selectors.audit_log_search()[:10],
    })


@staff_required
@never_cache
def health(request: HttpRequest) -> HttpResponse:
    """Queue depths, workers and beat; loaded by htmx into the dashboard and refreshed."""
    return render(request, "dashboard/_health.html", {
        "queues": selectors.queue_depths(),
        "workers": selectors.worker_health(),
        "beat": selectors.beat_health(),
        "checked_at": timezone.now(),
        # htmx swaps in the fragment; a plain visit (no JavaScript) gets a whole page.
        "frame": "dashboard/_fragment.html" if request.headers.get("HX-Request") else "base.html",
    })


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False)
    organization = forms.CharField(required=False, label="Organization slug")
    actor = forms.CharField(required=False, label="Actor email")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "any action")] + [(a, a) for a in selectors.audit_actions()]


@staff_required
@never_cache
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    entries = selectors.audit_log_search(**{k: v for k, v in filters.items() if v})
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "dashboard/audit_log.html", {
        "form": form, "page": page, "query": query.urlencode(),
    })
