"""Vendor forms in real Chromium (issue #16 item 4), under the site's Content-Security-Policy: the
MIT preset ticks the permissions it grants (derivatives too) and a contradicting edit is warned about; a
pay-as-you-go plan hides the monthly fee and needs its unit price; the slug fills itself from the
name; the publish checklist keeps Publish disabled until a ready version, a license and a plan exist."""

import re

import pytest
from playwright.sync_api import expect

from marketplace.models import License, Model, Plan
from tests.browser.conftest import log_in, screenshot
from tests.factories import PASSWORD, ready_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tiny(vendor) -> Model:
    return Model.objects.create(organization=vendor.organization, slug="tiny", name="Tiny", task="regression")


def test_the_mit_preset_ticks_commercial_use_and_download_and_a_contradicting_edit_is_warned(page, vendor, tiny):
    log_in(page, vendor.user.email, PASSWORD)
    page.goto("/vendor/models/tiny/license/")
    commercial = page.get_by_label("Commercial use allowed")
    download = page.get_by_label("Buyers may download the weights")
    expect(commercial).not_to_be_checked()
    expect(page.get_by_label("SPDX id or EULA name")).to_be_hidden()  # a listed license needs no typing

    page.get_by_label("Open license", exact=True).select_option("MIT")
    expect(commercial).to_be_checked()
    expect(download).to_be_checked()
    expect(page.get_by_label("Attribution required")).to_be_checked()
    derivatives = page.get_by_label("Modified versions allowed")
    expect(derivatives).to_be_checked()
    expect(page.get_by_test_id("license-grants")).to_contain_text("MIT grants commercial use: yes")
    expect(page.get_by_test_id("license-warnings")).to_have_count(0)

    commercial.uncheck()
    warnings = page.get_by_test_id("license-warnings")
    expect(warnings).to_contain_text("MIT allows commercial use, yet buyers would be told it is not allowed")
    expect(warnings.locator("li")).to_have_count(1)
    screenshot(page, "70-vendor-license-preset-warning")
    commercial.check()
    expect(page.get_by_test_id("license-warnings")).to_have_count(0)

    page.get_by_label("Open license", exact=True).select_option("CC-BY-NC-4.0")
    expect(commercial).not_to_be_checked()  # the non-commercial license's own terms
    page.get_by_label("Open license", exact=True).select_option("CC-BY-ND-4.0")
    expect(derivatives).not_to_be_checked()  # no modified versions under NoDerivatives
    derivatives.check()
    expect(page.get_by_test_id("license-warnings")).to_contain_text(
        "CC-BY-ND-4.0 does not allow sharing modified versions")
    page.get_by_label("My own EULA").check()
    expect(page.get_by_label("SPDX id or EULA name")).to_be_visible()
    expect(page.get_by_label("Open license", exact=True)).to_be_hidden()
    page.get_by_label("An open license (SPDX)").check()
    page.get_by_label("Open license", exact=True).select_option("MIT")
    page.get_by_role("button", name="Save license").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tiny")
    saved = License.objects.get(model=tiny, is_current=True)
    assert (saved.identifier, saved.commercial_use, saved.weight_download, saved.attribution_required,
            saved.derivatives_allowed) == ("MIT", True, True, True, True)
    terms = page.get_by_role("table").filter(has_text="Commercial use")
    expect(terms).to_contain_text("Allowed")
    expect(terms.get_by_role("row", name="Modified versions (derivatives)")).to_contain_text("Allowed")


def test_pay_as_you_go_hides_the_monthly_fee_and_requires_the_unit_price(page, vendor, tiny, settings):
    settings.PLATFORM_FEE_BPS = 2000
    log_in(page, vendor.user.email, PASSWORD)
    page.goto("/vendor/models/tiny/plans/")
    expect(page.get_by_test_id("revenue-share")).to_contain_text("You receive 80% of what buyers pay")
    page.get_by_label("Name", exact=True).fill("Metered")
    page.get_by_label("Plan type").select_option("payg")
    unit_price = page.get_by_label("Price per unit")
    expect(page.get_by_label("Monthly fee")).to_be_hidden()
    expect(page.get_by_label("Included calls a month")).to_be_hidden()
    expect(unit_price).to_be_visible()
    expect(unit_price).to_have_attribute("aria-required", "true")
    expect(page.get_by_label("Input price per 1M tokens")).to_be_hidden()

    page.get_by_role("button", name="Add plan").click()
    expect(page.get_by_text("A pay-as-you-go plan needs its price per unit")).to_be_visible()
    assert not Plan.objects.filter(model=tiny).exists()
    expect(page.get_by_label("Monthly fee")).to_be_hidden()  # the re-shown form keeps its layout

    page.get_by_label("Plan type").select_option("subscription")
    expect(page.get_by_label("Monthly fee")).to_be_visible()
    expect(unit_price).to_be_hidden()
    page.get_by_label("Monthly fee").fill("9")  # typed, then the type changes back: not sent
    page.get_by_label("Plan type").select_option("payg")
    page.get_by_label("Charged per").select_option("1m_tokens")
    expect(page.get_by_label("Input price per 1M tokens")).to_be_visible()
    expect(unit_price).to_be_hidden()
    page.get_by_label("Charged per").select_option("call")
    unit_price.fill("0.02")
    expect(page.get_by_test_id("plan-preview")).to_have_text("Pay as you go: 0.02 USD per call")
    expect(page.get_by_test_id("plan-estimate")).to_contain_text(
        "At 10,000 calls a month buyers pay 200.00 USD; you receive 160.00 USD")
    screenshot(page, "71-vendor-plan-payg-estimate")
    page.get_by_role("button", name="Add plan").click()
    expect(page.get_by_role("region", name="What a buyer sees")).to_contain_text("Metered — Pay as you go")
    plan = Plan.objects.get(model=tiny)
    assert (plan.kind, plan.unit_price_minor, plan.monthly_fee_minor) == ("payg", 2, 0)


def test_the_slug_fills_itself_from_the_name_until_the_vendor_edits_it(page, vendor):
    log_in(page, vendor.user.email, PASSWORD)
    page.goto("/vendor/models/new/")
    slug = page.get_by_label("Slug")
    page.get_by_label("Name").fill("Two Layer Régressor")
    expect(slug).to_have_value("two-layer-regressor")
    slug.fill("two-layer")
    page.get_by_label("Name").fill("Two Layer Regressor v2")
    expect(slug).to_have_value("two-layer")  # the vendor's own slug is kept
    page.get_by_label("Task").select_option("tabular-regression")
    page.get_by_role("button", name="Create model").click()
    expect(page).to_have_url(re.compile(r"/vendor/models/two-layer/upload/$"))
    assert Model.objects.get(organization=vendor.organization, slug="two-layer").task == "tabular-regression"


def test_the_checklist_keeps_publish_disabled_until_version_license_and_plan(page, vendor, tiny):
    log_in(page, vendor.user.email, PASSWORD)
    page.goto("/vendor/models/tiny/")
    checklist = page.get_by_test_id("publish-checklist")
    publish = checklist.get_by_role("button", name="Publish")
    expect(publish).to_be_disabled()
    expect(checklist.locator("li[data-done=false]")).to_have_count(3)

    ready_version(tiny)
    page.reload()
    expect(checklist.locator("li[data-done=false]")).to_have_count(2)
    expect(publish).to_be_disabled()

    checklist.get_by_role("link", name="choose a license").click()
    page.get_by_label("Open license", exact=True).select_option("Apache-2.0")
    page.get_by_role("button", name="Save license").click()
    expect(checklist.locator("li[data-done=false]")).to_have_count(1)
    expect(publish).to_be_disabled()
    screenshot(page, "72-vendor-publish-checklist")

    checklist.get_by_role("link", name="add a plan").click()
    page.get_by_label("Name", exact=True).fill("Free")
    page.get_by_label("Plan type").select_option("free")
    page.get_by_label("Included calls a month").fill("100")
    page.get_by_role("button", name="Add plan").click()
    page.get_by_role("link", name="Back to Tiny").click()
    expect(checklist.locator("li[data-done=false]")).to_have_count(0)
    expect(publish).to_be_enabled()
    publish.click()
    expect(page.get_by_test_id("model-status")).to_have_text("published")
    expect(page.get_by_test_id("publish-checklist")).to_have_count(0)
