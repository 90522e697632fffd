"""The staff dashboard through the Django test client."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.services import audit_record
from core.redis import get_redis
from dashboard import registry as dashboard_registry
from dashboard.registry import KpiCard

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_sent_to_log_in(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/"


def test_non_staff_user_gets_403_in_html(client, buyer):
    client.force_login(buyer.user)
    for path in ("/dashboard/", "/dashboard/audit/", "/dashboard/health/"):
        response = client.get(path)
        assert response.status_code == 403
        assert "You are not allowed to see this page" in response.content.decode()


def test_staff_sees_kpis_charts_and_planned_cards(client, staff, buyer):
    client.force_login(staff.user)
    html = client.get("/dashboard/").content.decode()
    assert "Users" in html and "Active API keys" in html
    # staff + buyer personas: 2 users, 2 active keys.
    assert '<p class="value">2</p>' in html
    assert "Sign-ups and new API keys per day" in html and "<svg" in html
    assert "Revenue this month" in html and "not wired yet" not in html
    assert "Dashboard" in html  # the staff-only nav entry


@pytest.fixture
def isolated_registry(monkeypatch):
    """A copy of the registry, so a test's registrations do not outlive it."""
    original = dashboard_registry.registry
    copy = dashboard_registry.Registry(
        kpis=dict(original.kpis), series=dict(original.series),
        sections=dict(original.sections), chart_titles=dict(original.chart_titles),
    )
    monkeypatch.setattr(dashboard_registry, "registry", copy)
    monkeypatch.setattr("dashboard.views.registry", copy)
    return copy


def test_an_app_can_add_a_kpi_card_that_replaces_its_placeholder(client, staff, isolated_registry):
    dashboard_registry.kpi("calls_today", order=0)(lambda: KpiCard(label="Calls today", value="1,234"))
    client.force_login(staff.user)
    html = client.get("/dashboard/").content.decode()
    assert "1,234" in html
    assert html.count("Calls today") == 1  # the placeholder is gone


def test_an_app_can_add_a_section_and_a_series(client, staff, isolated_registry):
    dashboard_registry.section("reconciliation", title="Reconciliation runs")(lambda: {
        "columns": ["Run", "Differences"], "rows": [["run-7", "<b>0</b>"]],
    })
    dashboard_registry.series("calls", label="Calls", chart="traffic", chart_title="Calls per day")(
        lambda *, since: {timezone.localdate(): 42.0}
    )
    client.force_login(staff.user)
    html = client.get("/dashboard/").content.decode()
    assert "<td>run-7</td><td>&lt;b&gt;0&lt;/b&gt;</td>" in html  # cells are escaped
    assert "Reconciliation runs <span" not in html  # no longer listed as coming next
    assert "Calls per day" in html and "Calls: 42 in 30 days" in html


def test_a_failing_kpi_shows_an_error_card_not_a_500(client, staff, isolated_registry):
    def broken() -> KpiCard:
        raise RuntimeError("boom")

    dashboard_registry.kpi("broken_thing")(broken)
    client.force_login(staff.user)
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert "see the server log" in response.content.decode()


def test_health_shows_queue_depths_and_beat_heartbeat(client, staff):
    redis = get_redis()
    redis.delete("convert")
    redis.rpush("convert", "a", "b", "c")
    cache.set("beat:last_heartbeat", (timezone.now() - timedelta(seconds=30)).isoformat(), timeout=None)
    client.force_login(staff.user)
    try:
        html = client.get("/dashboard/health/", HTTP_HX_REQUEST="true").content.decode()
    finally:
        redis.delete("convert")
    assert '<code>convert</code></span>\n      <span><span class="badge ok">3</span>' in html
    assert "healthy" in html
    assert "<html" not in html  # htmx gets the fragment only


def test_stale_beat_and_no_workers_show_as_down(client, staff):
    cache.set("beat:last_heartbeat", (timezone.now() - timedelta(minutes=10)).isoformat(), timeout=None)
    client.force_login(staff.user)
    html = client.get("/dashboard/health/").content.decode()
    assert "stale" in html
    assert "no worker answered within a second" in html
    assert "<html" in html  # a plain visit gets a whole page


def test_audit_log_filters_combine_and_paginate(client, staff, buyer, outsider):
    for i in range(55):
        audit_record(action="test.bulk", actor=buyer.user, organization=buyer.organization, target=f"t{i}")
    audit_record(action="test.bulk", actor=outsider.user, organization=outsider.organization, target="other")
    client.force_login(staff.user)
    html = client.get("/dashboard/audit/", {"action": "test.bulk", "organization": "buyer"}).content.decode()
    assert "55 events, page 1 of 2." in html
    assert "other" not in html.split("<tbody>")[1]
    page2 = client.get("/dashboard/audit/", {"action": "test.bulk", "organization": "buyer", "page": 2}).content.decode()
    assert "t0<" in page2 and "page 2 of 2" in page2
    by_actor = client.get("/dashboard/audit/", {"actor": "outsider-co@"}).content.decode()
    assert ">other<" in by_actor and ">t1<" not in by_actor
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert "No audit events match." in client.get("/dashboard/audit/", {"since": tomorrow}).content.decode()


def test_staff_see_worker_deaths_and_versions_running_isolated(client, staff, tiny):
    """Issue #12 item 1: a worker death tells staff instead of de-listing anything silently."""
    import json
    import time

    from inference.serving.workers import quarantine
    from marketplace.models import ModelVersion

    version = ModelVersion.objects.get(model=tiny)
    get_redis().hset(quarantine.running_key(), "r-1", json.dumps(
        {"v": version.pk, "host": "gone-host", "pid": 99, "t": time.time()}))
    quarantine.sweep()
    client.force_login(staff.user)
    html = client.get("/dashboard/").content.decode()
    assert "Serving incidents" in html
    assert "Inference worker gone-host pid 99 died with 1 run(s) in flight on vendor-co.tiny 1.0.0" in html
    assert "Running isolated" in html and "vendor-co.tiny 1.0.0: on probation since worker:gone-host:99" in html
