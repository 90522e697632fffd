"""The staff dashboard in real chromium, with a real Celery worker answering the health ping."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from accounts.services import audit_record
from tests.browser.conftest import log_in, screenshot
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_non_staff_user_is_refused_the_dashboard(page, buyer):
    page.goto("/dashboard/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/dashboard/$"))
    log_in(page, buyer.user.email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("You are not allowed to see this page")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard")).to_have_count(0)
    screenshot(page, "20-dashboard-forbidden")
    response = page.goto("/dashboard/audit/")
    assert response.status == 403


def test_staff_sees_kpis_health_and_filters_the_audit_log(page, staff, buyer, celery_worker):
    cache.set("beat:last_heartbeat", timezone.now().isoformat(), timeout=None)
    audit_record(action="api_key.created", actor=buyer.user, organization=buyer.organization, target="mb_live_abc")
    log_in(page, staff.user.email, PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff dashboard")
    users_card = page.get_by_test_id("kpi").filter(has_text="Users")
    expect(users_card).to_contain_text("2")  # staff and buyer
    expect(page.get_by_text("Revenue this month")).to_be_visible()
    # htmx loads the health panel: the real worker answers the ping, beat is fresh.
    health = page.get_by_test_id("health")
    expect(health).to_contain_text("answered ping", timeout=20_000)
    expect(health).to_contain_text("all@")
    expect(health).to_contain_text("healthy")
    expect(page.locator("svg.chart").first).to_be_visible()
    screenshot(page, "21-dashboard")

    page.get_by_role("link", name="Search the whole audit log").click()
    page.get_by_label("Action").select_option("api_key.created")
    page.get_by_label("Organization slug").fill("buyer")
    page.get_by_role("button", name="Filter").click()
    rows = page.get_by_role("region", name="Audit events").locator("tbody tr")
    expect(rows).to_have_count(2)  # the persona's own key and the one recorded above
    expect(rows.first).to_contain_text("buyer-co@example.com")
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    page.get_by_label("From").fill(tomorrow)
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No audit events match.")).to_be_visible()
    page.get_by_label("From").fill("")
    page.get_by_role("button", name="Filter").click()
    screenshot(page, "22-audit-log")
