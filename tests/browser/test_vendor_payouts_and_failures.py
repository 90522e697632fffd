"""Vendor edge paths in real chromium: a refused upload says what to do; a version that fails in
the pipeline shows the stage, the reason and the next step; payouts onboarding through Stripe
Connect (the local stand-in) and the earnings charts."""

import pickle
import re

import pytest
from playwright.sync_api import expect

from marketplace.models import Model
from tests.browser.conftest import log_in, screenshot
from tests.factories import PASSWORD, evil_domain_onnx

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.fixture
def listing(vendor):
    return Model.objects.create(organization=vendor.organization, slug="risky", name="Risky")


def test_a_pickle_is_refused_at_upload_with_the_safe_formats_named(page, vendor, listing, tmp_path):
    renamed = tmp_path / "weights.onnx"
    renamed.write_bytes(pickle.dumps(Evil()))
    log_in(page, vendor.user.email, PASSWORD)
    page.goto("/vendor/models/risky/upload/")
    page.get_by_label("Model file").set_input_files(str(renamed))
    page.get_by_role("button", name="Upload").click()
    problem = page.locator("#upload-error")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text(re.compile("pickle", re.I))
    expect(page).to_have_url(re.compile(r"/upload/$"))
    screenshot(page, "39-vendor-upload-refused")
    assert not listing.versions.exists()


def test_a_version_failing_in_the_pipeline_shows_stage_reason_and_next_step(page, vendor, listing, celery_worker,
                                                                           tmp_path):
    evil = tmp_path / "evil.onnx"
    evil.write_bytes(evil_domain_onnx())
    log_in(page, vendor.user.email, PASSWORD)
    page.goto("/vendor/models/risky/upload/")
    page.get_by_label("Model file").set_input_files(str(evil))
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/versions/1\.0\.0/$"))
    expect(page.get_by_test_id("version-status")).to_have_text("failed", timeout=120_000)
    alert = page.get_by_role("alert").filter(has_text="Failed at")
    expect(alert).to_contain_text("com.evil")
    expect(alert).to_contain_text("What to do:")
    expect(page.locator(".timeline [data-stage=scanning]")).to_have_class(re.compile(r"\bfailed\b"))
    expect(page.locator(".timeline [data-stage=validating]")).to_contain_text("not run")
    screenshot(page, "3a-vendor-version-failed")
    page.goto("/vendor/")
    expect(page.get_by_role("row", name=re.compile("Risky"))).to_contain_text("failed")


def test_vendor_starts_payouts_onboarding_with_stripe_connect(page, vendor, stripe_standin):
    log_in(page, vendor.user.email, PASSWORD)
    page.goto("/vendor/earnings/")
    expect(page.get_by_text("No payout account yet.")).to_be_visible()
    page.get_by_role("button", name="Set up payouts with Stripe").click()
    expect(page).to_have_url(re.compile(r"/vendor/earnings/\?onboarding=return$"))
    expect(page.get_by_role("region", name="Payout account")).to_contain_text("payouts active")
    expect(page.get_by_role("button", name=re.compile("Stripe"))).to_have_count(0)
    screenshot(page, "38-vendor-earnings-onboarded")
