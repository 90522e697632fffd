"""Issue #16 item 3 and the layout leftovers of item 5, in real chromium: charts scaled to their
data and readable on a phone, the model page and catalog at 390x844, the staff header and audit
log at 1366 px, the error page in the site's style.

The tests also leave screenshots for a person in bench/results/screens/ (PNG, git-ignored).
"""

from decimal import Decimal
from pathlib import Path

import pytest
from django.test import RequestFactory
from playwright.sync_api import expect

from accounts.services import audit_record
from billing.models import UsageEvent
from core.views import server_error
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, MembershipFactory, UserFactory, published_model
from tests.inference.serving import subscribe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENS = Path(__file__).resolve().parents[2] / "bench" / "results" / "screens"
PHONE = {"width": 390, "height": 844}


def save_screen(page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


@pytest.fixture
def spent_a_cent(vendor, buyer):
    """The buyer made one call today, billed 0.01 USD, on the vendor's published model."""
    tiny = published_model(vendor.organization, "tiny")
    version = tiny.versions.get()
    version.benchmark = {"batches": {"1": {"p50_ms": 0.05, "p95_ms": 0.08}, "8": {"p50_ms": 0.21, "p95_ms": 0.34}}}
    version.save(update_fields=["benchmark"])
    subscribe(buyer, tiny)
    UsageEvent.objects.create(request_id="cent", organization=buyer.organization, model=tiny, version=version,
                              plan=tiny.plans.get(), units=4, compute_ms=Decimal("0.2"), currency="usd",
                              amount_minor=Decimal(1))
    return tiny


# The visible drawing of a chart (wide or narrow, whichever the viewport shows): its y tick labels,
# the y of its top grid line and of its baseline, and the highest point of its first line.
LINE_GEOMETRY = """(section) => {
  const svg = [...section.querySelectorAll("svg.chart.line")].find(s => s.checkVisibility());
  const grid = [...svg.querySelectorAll("line.grid")].map(l => +l.getAttribute("y1"));
  const ys = svg.querySelector("polyline").getAttribute("points").trim().split(/\\s+/).map(p => +p.split(",")[1]);
  const tick = svg.querySelector("text.tick.y");
  return {ticks: [...svg.querySelectorAll("text.tick.y")].map(t => t.textContent), top: Math.min(...grid),
          bottom: Math.max(...grid), highest: Math.min(...ys), lowest: Math.max(...ys), variant: svg.classList[2],
          tickPx: tick.getBoundingClientRect().height};
}"""


def test_cost_chart_scales_its_axis_to_a_cent_and_switches_range(page, browser, live_server, buyer, spent_a_cent):
    log_in(page, buyer.user.email, PASSWORD)
    page.goto("/console/usage/")
    cost = page.get_by_role("region", name="Cost per day by model")
    chart = cost.element_handle().evaluate(LINE_GEOMETRY)
    assert chart["variant"] == "wide"
    assert chart["ticks"][-1] == "0.010" and chart["ticks"][0] == "0"  # not 0 .. 1
    assert chart["highest"] == pytest.approx(chart["top"], abs=0.5)  # the cent reaches the top tick
    assert chart["lowest"] == pytest.approx(chart["bottom"], abs=0.5)  # the days without calls are at zero
    expect(cost.locator(".legend")).to_contain_text("vendor-co.tiny: 0.01 USD in 30 days")
    expect(page.get_by_test_id("range-cost")).to_contain_text("0.01 USD")
    save_screen(page, "usage")
    page.get_by_role("navigation", name="Chart range").get_by_role("link", name="7 days").click()
    expect(page.get_by_role("heading", name="Last 7 days")).to_be_visible()
    expect(cost.locator(".legend")).to_contain_text("0.01 USD in 7 days")
    assert cost.element_handle().evaluate(LINE_GEOMETRY)["ticks"][-1] == "0.010"

    phone = browser.new_context(base_url=live_server.url, viewport=PHONE)
    try:
        small = phone.new_page()
        log_in(small, buyer.user.email, PASSWORD)
        small.goto("/console/usage/?days=90")
        chart = small.get_by_role("region", name="Cost per day by model").element_handle().evaluate(LINE_GEOMETRY)
        assert chart["variant"] == "narrow" and chart["ticks"][-1] == "0.010"
        assert chart["tickPx"] >= 10, "the axis labels are too small to read on a phone"
        assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        save_screen(small, "phone-usage")
    finally:
        phone.close()


def test_earnings_show_totals_and_a_revenue_axis_scaled_to_the_data(page, vendor, spent_a_cent):
    log_in(page, vendor.user.email, PASSWORD)
    page.goto("/vendor/earnings/?days=90")
    expect(page.get_by_test_id("range-revenue")).to_contain_text("0.01 USD")
    expect(page.get_by_test_id("range-calls")).to_contain_text("1")
    revenue = page.get_by_role("region", name="Revenue billed per day by model")
    chart = revenue.element_handle().evaluate(LINE_GEOMETRY)
    assert chart["ticks"][-1] == "0.010" and chart["highest"] == pytest.approx(chart["top"], abs=0.5)
    calls = page.get_by_role("region", name="Calls per day by model").element_handle().evaluate(LINE_GEOMETRY)
    assert calls["ticks"] == ["0", "1"]  # whole calls, no 0.2-call ticks
    save_screen(page, "earnings")


def test_model_page_and_catalog_work_on_a_phone(browser, live_server, spent_a_cent, csp_violations):
    phone = browser.new_context(base_url=live_server.url, viewport=PHONE)
    phone.on("console", lambda message: csp_violations.append(message.text)
             if "Content Security Policy" in message.text else None)
    try:
        page = phone.new_page()
        page.goto("/catalog/")
        filters = page.get_by_test_id("filters")
        expect(filters).not_to_have_attribute("open", "")  # folded: the first screen shows models
        expect(page.get_by_label("Search")).to_be_hidden()
        first_card = page.get_by_test_id("model-card").first.bounding_box()
        assert first_card["y"] < PHONE["height"], "the filters still take the first phone screen"
        save_screen(page, "phone-catalog")
        page.get_by_text("Search and filters").click()
        expect(page.get_by_label("Search")).to_be_visible()
        expect(page.get_by_label("License")).to_contain_text("Open license (SPDX)")

        page.goto("/catalog/vendor-co/tiny/")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        table = page.get_by_test_id("signature")
        for text in ("input", "output", "FP32", "[-1, 4]", "[-1, 2]"):
            cell = table.get_by_text(text, exact=True).first
            expect(cell).to_be_visible()
            box = cell.bounding_box()
            assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"], f"{text} is off the screen"
        expect(table.locator("td[data-label=Shape]").first).to_be_visible()
        bench = page.get_by_role("region", name="Benchmark: latency at batch 1 and 8")
        narrow = bench.locator("svg.bars.narrow")
        expect(narrow).to_be_visible()
        expect(bench.locator("svg.bars.wide")).to_be_hidden()
        label = narrow.locator("text.category").first.bounding_box()
        assert label["height"] >= 10, "the benchmark labels are too small to read on a phone"
        expect(bench.locator(".legend")).to_contain_text("p50 (median)")
        save_screen(page, "phone-model")
    finally:
        phone.close()


def test_model_page_and_playground_on_a_desktop(page, buyer, spent_a_cent):
    page.goto("/catalog/vendor-co/tiny/")
    bench = page.get_by_role("region", name="Benchmark: latency at batch 1 and 8")
    colours = bench.locator("svg.bars.wide rect.bar").evaluate_all(
        "bars => bars.map(b => [b.dataset.series, b.getAttribute('fill')])")
    assert {series: {fill for s, fill in colours if s == series} for series, _ in colours} == {
        "p50 (median)": {"#0072B2"}, "p95": {"#D55E00"}}  # one colour per series, not per bar
    save_screen(page, "model-page")
    log_in(page, buyer.user.email, PASSWORD)
    page.goto("/console/playground/vendor-co/tiny/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    save_screen(page, "playground")


def test_staff_header_stays_on_one_line_and_the_audit_log_fits_at_1366(page, staff):
    long_email = "platform.operations.lead@modelbay-staff.example"
    staff.user.email = long_email
    staff.user.save(update_fields=["email"])
    MembershipFactory(user=staff.user, organization__slug="ops", organization__name="Modelbay Platform Operations")
    other = UserFactory(email="someone.with.a.long.address@customer-company.example")
    audit_record(action="api_key.created", actor=other, organization=staff.organization, target="mb_live_abcdef",
                 details={"key_id": 12, "scopes": ["inference", "catalog:read", "catalog:subscribe", "vendor:write",
                                                   "billing:read"], "note": "x" * 80})
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, long_email, PASSWORD)
    page.goto("/dashboard/")
    tops = page.locator(".site-header .bar > *").evaluate_all(
        "items => items.map(i => Math.round(i.getBoundingClientRect().top))")
    assert max(tops) - min(tops) <= 12, f"the header wrapped: rows start at {tops}"
    links = page.locator(".site-nav a, .account a, .account button")
    heights = links.evaluate_all("items => items.map(i => i.getBoundingClientRect().height)")
    assert max(heights) < 40, f"a header link broke over two lines: {heights}"
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    latest = page.get_by_role("region", name="Latest audit events").locator(".table-wrap")
    assert latest.evaluate("w => w.scrollWidth <= w.clientWidth"), "the latest audit events are cut off"
    save_screen(page, "staff-dashboard-1366")

    page.goto("/dashboard/audit/")
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth"), "the audit table is cut off on the right"
    actor = page.locator("td.actor", has_text="someone.with.a.long.address@customer-company.example")
    # At most one break, after the "@": each half of the email stays on one line.
    halves = actor.locator("span.nowrap").evaluate_all("parts => parts.map(p => p.getClientRects().length)")
    assert halves == [1, 1], "the actor's email broke in the middle"
    expect(actor).to_be_in_viewport()
    details = page.locator("td.details code").first
    box, frame = details.bounding_box(), wrap.bounding_box()
    assert box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
    save_screen(page, "audit-log-1366")


def test_error_pages_are_styled_like_the_site(page):
    response = page.goto("/no/such/page/")
    assert response.status == 404
    expect(page.locator(".site-header")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    card = page.locator(".card").first
    assert card.evaluate("c => getComputedStyle(c).backgroundColor") == "rgb(255, 255, 255)"  # the stylesheet applied
    expect(page.get_by_role("link", name="Browse the catalog")).to_be_visible()
    save_screen(page, "not-found")
    # The 500 page renders without a request context; opened on the site, its stylesheet applies.
    page.set_content(server_error(RequestFactory().get("/vendor/")).content.decode())
    expect(page.get_by_role("heading", level=1)).to_have_text("Something went wrong on our side")
    expect(page.locator(".site-header")).to_be_visible()
    assert page.locator(".card").evaluate("c => getComputedStyle(c).backgroundColor") == "rgb(255, 255, 255)"
    save_screen(page, "server-error")
