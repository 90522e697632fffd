"""Vendor portal pages through the Django test client: the same services as the API."""

import pytest

from marketplace.models import License, Model, Plan
from tests.factories import published_model, ready_version

pytestmark = pytest.mark.django_db


def test_vendor_creates_a_model_and_its_description_is_rendered_without_scripts(client, vendor):
    client.force_login(vendor.user)
    response = client.post("/vendor/models/new/", {
        "name": "Sentiment", "slug": "sentiment", "task": "text-classification", "visibility": "private",
        "description": "**Fast** model.\n\n<script>alert(1)</script><img src=x onerror=alert(2)>", "tags": "nlp, english",
    })
    assert response.status_code == 302 and response["Location"] == "/vendor/models/sentiment/upload/"
    model = Model.objects.get(slug="sentiment")
    assert model.tags == ["nlp", "english"] and model.organization == vendor.organization
    html = client.get("/vendor/models/sentiment/").content.decode()
    assert "<strong>Fast</strong>" in html
    assert "<script>alert(1)" not in html and "onerror" not in html
    assert "draft" in client.get("/vendor/").content.decode()


def test_duplicate_slug_is_refused_on_the_form_in_the_services_words(client, vendor):
    client.force_login(vendor.user)
    Model.objects.create(organization=vendor.organization, slug="taken", name="Taken")
    response = client.post("/vendor/models/new/", {"name": "Again", "slug": "taken", "visibility": "private"})
    assert response.status_code == 200
    assert "You already have a model with slug" in response.content.decode()


def test_another_organizations_model_is_not_found(client, vendor, outsider):
    Model.objects.create(organization=outsider.organization, slug="secret", name="Secret")
    client.force_login(vendor.user)
    for path in ("/vendor/models/secret/", "/vendor/models/secret/license/", "/vendor/models/secret/plans/"):
        assert client.get(path).status_code == 404


def test_license_plan_and_publish_through_the_pages(client, vendor):
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="tiny", name="Tiny")
    ready_version(model)
    response = client.post("/vendor/models/tiny/publish/", follow=True)
    assert "Before publishing, add a license" in response.content.decode()
    response = client.post("/vendor/models/tiny/license/", {
        "kind": "custom", "identifier": "Tiny EULA", "text": "", "territory_mode": "anywhere"})
    assert "A custom EULA needs its full text" in response.content.decode()
    client.post("/vendor/models/tiny/license/", {
        "kind": "spdx", "identifier": "Apache-2.0", "commercial_use": "on", "territory_mode": "deny",
        "territories": "kp, ir"})
    license = License.objects.get(model=model, is_current=True)
    assert license.commercial_use and license.territories == ["IR", "KP"]
    response = client.post("/vendor/models/tiny/plans/", {"name": "Metered", "kind": "payg", "currency": "usd",
                                                           "unit": "call", "unit_price": "0.02"})
    assert response.status_code == 302
    assert Plan.objects.get(model=model).unit_price_minor == 2
    preview = client.post("/vendor/models/tiny/plans/preview/", {"name": "Pro", "kind": "subscription",
                          "currency": "eur", "unit": "call", "monthly_fee": "9", "included_calls": "1000"})
    assert "Subscription: 9.00 EUR a month, 1,000 calls included" in preview.content.decode()
    assert "Pay as you go: 0.02 USD per call" in client.get("/vendor/models/tiny/plans/").content.decode()
    client.post("/vendor/models/tiny/publish/")
    model.refresh_from_db()
    assert model.status == "published" and model.visibility == "public"
    client.post("/vendor/models/tiny/publish/", {"action": "unpublish"})
    model.refresh_from_db()
    assert model.status == "draft"


def test_version_page_shows_signature_figures_and_a_finished_timeline(client, vendor):
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="tiny", name="Tiny")
    ready_version(model, benchmark={"batches": {"1": {"p50_ms": 0.05, "p95_ms": 0.08},
                                                "8": {"p50_ms": 0.2, "p95_ms": 0.31}}})
    html = client.get("/vendor/models/tiny/versions/1.0.0/").content.decode()
    assert 'data-testid="version-status">ready' in html
    assert "<code>x</code>" in html and "FP32" in html
    assert "batch 8 p95" in html and "0.310" in html
    assert "hx-trigger" not in html  # finished: the timeline no longer polls
    assert "The figures of a ready version" not in html  # the template's own note stays out of the page


def test_the_poll_that_sees_the_pipeline_end_brings_the_figures_without_a_reload(client, vendor):
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="tiny", name="Tiny")
    ready_version(model, benchmark={"batches": {"1": {"p50_ms": 0.05, "p95_ms": 0.08}}})
    response = client.get("/vendor/models/tiny/versions/1.0.0/timeline/?live=1", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "HX-Refresh" not in response.headers
    assert 'data-testid="version-status">ready' in html and "hx-trigger" not in html
    assert '<div id="version-results" hx-swap-oob="true">' in html
    assert "The figures of a ready version" not in html  # the template's own note stays out of the page
    assert "<code>x</code>" in html and "batch 1 p95" in html
    # A poll of a page that was not watching the pipeline (no live=1) gets the timeline alone.
    assert "version-results" not in client.get("/vendor/models/tiny/versions/1.0.0/timeline/").content.decode()


def test_failed_version_shows_the_reason_and_what_to_do(client, vendor):
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="bad", name="Bad")
    version = ready_version(model)
    type(version).objects.filter(pk=version.pk).update(
        status="failed", failure={"stage": "scanning", "reason": "raw pickles are refused",
                                  "hint": "upload a .pt2 from torch.export.save"})
    html = client.get("/vendor/models/bad/versions/1.0.0/timeline/").content.decode()
    assert "Failed at scanning" in html and "raw pickles are refused" in html
    assert "What to do: upload a .pt2 from torch.export.save" in html


def test_suspended_model_shows_the_staff_reason_to_its_vendor(client, vendor, staff):
    model = published_model(vendor.organization)
    client.force_login(staff.user)
    client.post(f"/dashboard/marketplace/models/{model.pk}/suspend/", {"reason": "Misleading benchmark claims"})
    client.force_login(vendor.user)
    html = client.get("/vendor/models/tiny/").content.decode()
    assert "Misleading benchmark claims" in html and "Suspended by Modelbay staff" in html
    response = client.post("/vendor/models/tiny/publish/", follow=True)
    assert "suspended by staff" in response.content.decode()


def test_earnings_page_renders_charts_and_payout_state(client, vendor):
    client.force_login(vendor.user)
    html = client.get("/vendor/earnings/").content.decode()
    assert "Calls per day by model" in html and "<svg" in html
    assert "No earnings yet" in html


def test_only_staff_can_suspend_a_listing(client, vendor, buyer):
    model = published_model(vendor.organization)
    client.force_login(buyer.user)
    response = client.post(f"/dashboard/marketplace/models/{model.pk}/suspend/", {"reason": "I do not like it"})
    assert response.status_code == 403
    model.refresh_from_db()
    assert model.status == "published"


def test_suspension_needs_a_reason_for_the_vendor(client, vendor, staff):
    model = published_model(vendor.organization)
    client.force_login(staff.user)
    response = client.post(f"/dashboard/marketplace/models/{model.pk}/suspend/", {"reason": "  "}, follow=True)
    assert "Give the vendor a reason" in response.content.decode()
    model.refresh_from_db()
    assert model.status == "published"
