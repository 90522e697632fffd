"""Extension points of the staff dashboard: KPI cards, charts and sections.

Any app adds to the dashboard from a module named `staff_dashboard.py` (imported at start-up by
DashboardConfig.ready, like admin.py for the admin):

    # billing/staff_dashboard.py
    from dashboard.registry import KpiCard, kpi, section, series

    @kpi("revenue_month", order=20)
    def revenue_this_month() -> KpiCard:
        total = billing.selectors.revenue_since(...)          # a selector, never inline logic
        return KpiCard(label="Revenue this month", value=f"€{total:,.2f}")

    @series("revenue", label="Revenue (EUR) per day", chart="revenue")
    def revenue_per_day(*, since: date) -> dict[date, float]:
        return billing.selectors.revenue_per_day(since=since)

    @section("reconciliation", title="Reconciliation runs", order=40)
    def reconciliation_runs() -> dict:
        runs = billing.selectors.reconciliation_runs_recent()
        return {"columns": ["Started", "Status", "Differences"],
                "rows": [[r.started_at, r.status, r.differences] for r in runs],
                "empty": "No reconciliation has run yet."}

Keys listed in PLANNED show as "not wired yet" cards until some app registers them, so staff
see what is coming and the engineer filling one knows the key to use.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

# key -> (label, which part of the project provides it)
PLANNED_KPIS: dict[str, tuple[str, str]] = {
    "calls_today": ("Calls today", "inference gateway"),
    "revenue_month": ("Revenue this month", "billing"),
    "active_buyers": ("Active buyers", "billing"),
    "active_vendors": ("Active vendors", "marketplace"),
    "conversion_success": ("Conversion success rate", "upload pipeline"),
    "latency_p95": ("p95 latency", "inference gateway"),
}
PLANNED_SECTIONS: dict[str, tuple[str, str]] = {
    "failed_versions": ("Failed and quarantined versions", "upload pipeline"),
    "moderation": ("Listing moderation", "marketplace"),
    "reconciliation": ("Reconciliation runs", "billing"),
}


@dataclass(frozen=True)
class KpiCard:
    label: str
    value: str
    hint: str = ""
    href: str = ""
    # "ok" | "warn" | "bad" | "" : colours the card; the value text still says it.
    tone: str = ""


@dataclass(frozen=True)
class Kpi:
    key: str
    order: int
    compute: Callable[[], KpiCard]


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    chart: str  # series with the same chart key are drawn together
    compute: Callable[..., dict[date, float]]


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    template: str
    order: int
    context: Callable[[], dict]


@dataclass
class Registry:
    kpis: dict[str, Kpi] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    sections: dict[str, Section] = field(default_factory=dict)
    chart_titles: dict[str, str] = field(default_factory=dict)


registry = Registry()


def kpi(key: str, *, order: int = 100) -> Callable[[Callable[[], KpiCard]], Callable[[], KpiCard]]:
    def register(compute: Callable[[], KpiCard]) -> Callable[[], KpiCard]:
        registry.kpis[key] = Kpi(key=key, order=order, compute=compute)
        return compute

    return register


def series(key: str, *, label: str, chart: str, chart_title: str = "") -> Callable:
    """`compute(since=date)` returns {day: value}; missing days are drawn as 0."""

    def register(compute: Callable[..., dict[date, float]]) -> Callable[..., dict[date, float]]:
        registry.series[key] = Series(key=key, label=label, chart=chart, compute=compute)
        if chart_title:
            registry.chart_titles[chart] = chart_title
        return compute

    return register


def section(key: str, *, title: str, template: str = "dashboard/_section_table.html", order: int = 100) -> Callable:
    """`context()` returns what `template` reads as `data`; the default template draws
    {"columns": [...], "rows": [[...]], "empty": "...", "link": (label, href)} as a table."""

    def register(context: Callable[[], dict]) -> Callable[[], dict]:
        registry.sections[key] = Section(key=key, title=title, template=template, order=order, context=context)
        return context

    return register
