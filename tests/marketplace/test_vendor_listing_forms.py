"""Vendor forms that cannot contradict themselves (issue #16 item 4): the task comes from a fixed
list (the catalog filters by it), the slug comes from the name, plan fields follow the plan type,
the plan form shows the vendor's share and an estimate, and a checklist stands before Publish."""

import re

import pytest

from marketplace.model_tasks import TASK_IDS
from marketplace.models import Model, Plan
from tests.factories import published_model, ready_version

pytestmark = pytest.mark.django_db


def test_the_tasks_of_seed_and_test_data_are_in_the_list():
    assert {"regression", "tabular-regression", "text-generation", "text-classification"} <= TASK_IDS


def test_the_api_refuses_an_unknown_task_with_the_list(vendor):
    response = vendor.client.post("/api/v1/vendor/models", {"name": "Odd", "slug": "odd", "task": "text classifier"},
                                  format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert "Unknown task 'text classifier'" in error["message"] and "text-classification" in error["details"][
        "allowed_tasks"]
    assert not Model.objects.filter(slug="odd").exists()


def test_a_task_saved_before_the_list_stays_until_the_vendor_picks_another(vendor, client):
    Model.objects.create(organization=vendor.organization, slug="old", name="Old", task="legacy-thing")
    assert vendor.client.patch("/api/v1/vendor/models/old", {"task": "legacy-thing", "name": "Old 2"},
                               format="json").status_code == 200
    client.force_login(vendor.user)
    page = client.get("/vendor/models/old/edit/").content.decode()
    assert '<option value="legacy-thing" selected>' in page
    assert vendor.client.patch("/api/v1/vendor/models/old", {"task": "other-legacy"}, format="json").status_code == 400


def test_the_slug_comes_from_the_name_when_left_out(vendor, client):
    created = vendor.client.post("/api/v1/vendor/models", {"name": "Two Layer Regressor", "task": "regression"},
                                 format="json")
    assert created.status_code == 201 and created.json()["slug"] == "two-layer-regressor"
    client.force_login(vendor.user)
    page = client.get("/vendor/models/new/").content.decode()
    assert 'data-slug-from="id_name"' in page and '<select name="task"' in page
    response = client.post("/vendor/models/new/", {"name": "Señor Vision 2", "slug": "", "task": "image-classification",
                                                   "visibility": "private"})
    assert response.status_code == 302 and response["Location"] == "/vendor/models/senor-vision-2/upload/"


def test_the_catalog_filters_by_a_task_chosen_from_the_list(client, vendor):
    published_model(vendor.organization, "tiny")  # task regression
    page = client.get("/catalog/").content.decode()
    select = re.search(r'<select name="task".*?</select>', page, re.S)[0]
    assert '<option value="" selected>Any task</option>' in select and '<option value="regression">' in select
    assert ">Tiny</a>" in client.get("/catalog/", {"task": "regression"}).content.decode()
    assert ">Tiny</a>" not in client.get("/catalog/", {"task": "text-generation"}).content.decode()


@pytest.fixture
def tiny(vendor) -> Model:
    model = Model.objects.create(organization=vendor.organization, slug="tiny", name="Tiny", task="regression")
    ready_version(model)
    return model


def test_pay_as_you_go_needs_its_unit_price_and_has_no_monthly_fee(client, vendor, tiny):
    client.force_login(vendor.user)
    html = client.post("/vendor/models/tiny/plans/", {"name": "Metered", "kind": "payg", "currency": "usd",
                                                      "unit": "call"}).content.decode()
    assert "A pay-as-you-go plan needs its price per unit" in html
    html = client.post("/vendor/models/tiny/plans/", {"name": "Metered", "kind": "payg", "currency": "usd",
                                                      "unit": "call", "unit_price": "0.02",
                                                      "monthly_fee": "9"}).content.decode()
    assert "A pay as you go plan has no monthly fee; leave it empty." in html
    assert not Plan.objects.filter(model=tiny).exists()
    page = client.get("/vendor/models/tiny/plans/").content.decode()
    assert re.search(r'name="monthly_fee"[^>]*data-plan-kinds="subscription"', page)
    assert re.search(r'name="unit_price"[^>]*data-plan-kinds="payg"', page)


def test_a_subscription_counts_calls_whatever_unit_was_left_in_the_form(client, vendor, tiny):
    client.force_login(vendor.user)
    assert client.post("/vendor/models/tiny/plans/", {"name": "Pro", "kind": "subscription", "currency": "usd",
                                                      "unit": "compute_second", "monthly_fee": "9",
                                                      "included_calls": "1000"}).status_code == 302
    assert Plan.objects.get(model=tiny).unit == "call"


def test_the_plan_form_shows_the_vendor_share_and_a_months_estimate(client, vendor, tiny, settings):
    settings.PLATFORM_FEE_BPS = 2000
    client.force_login(vendor.user)
    page = client.get("/vendor/models/tiny/plans/").content.decode()
    assert "You receive <strong>80%</strong> of what buyers pay" in page and "Modelbay keeps 20%" in page
    preview = client.post("/vendor/models/tiny/plans/preview/", {
        "name": "Metered", "kind": "payg", "currency": "usd", "unit": "call", "unit_price": "0.02",
        "estimate_volume": "10000"}).content.decode()
    assert "Pay as you go: 0.02 USD per call" in preview
    assert ("At 10,000 calls a month buyers pay 200.00 USD; you receive 160.00 USD after the 20% Modelbay fee "
            "(40.00 USD).") in preview
    assert 'id="plan-estimate"' in preview and 'hx-swap-oob="true"' in preview
    preview = client.post("/vendor/models/tiny/plans/preview/", {
        "name": "Pro", "kind": "subscription", "currency": "eur", "monthly_fee": "9", "included_calls": "1000",
        "overage_price": "0.01", "estimate_volume": "1500"}).content.decode()
    assert "At 1,500 calls a month buyers pay 14.00 EUR; you receive 11.20 EUR" in preview


def test_the_checklist_stands_before_publish_until_everything_is_in_place(client, vendor):
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="fresh", name="Fresh")

    def checklist() -> tuple[dict, bool]:
        html = client.get("/vendor/models/fresh/").content.decode()
        section = re.search(r'data-testid="publish-checklist".*?</section>', html, re.S)[0]
        done = dict(re.findall(r'data-key="(\w+)" data-done="(\w+)"', section))
        disabled = re.search(r'<button class="button" type="submit"[^>]*>Publish</button>', section)[0]
        return done, " disabled" in disabled

    assert checklist() == ({"version": "false", "license": "false", "plan": "false"}, True)
    ready_version(model)
    vendor.client.post("/api/v1/vendor/models/fresh/license", {"kind": "spdx", "identifier": "MIT"}, format="json")
    assert checklist() == ({"version": "true", "license": "true", "plan": "false"}, True)
    response = client.post("/vendor/models/fresh/publish/", follow=True)  # the server refuses as the page says
    assert "Before publishing, add an active plan" in response.content.decode()
    vendor.client.post("/api/v1/vendor/models/fresh/plans", {"name": "Free", "kind": "free", "included_calls": 100},
                       format="json")
    assert checklist() == ({"version": "true", "license": "true", "plan": "true"}, False)
    client.post("/vendor/models/fresh/publish/")
    model.refresh_from_db()
    assert model.status == "published"
    assert 'data-testid="publish-checklist"' not in client.get("/vendor/models/fresh/").content.decode()


def test_the_api_tells_what_publishing_still_needs(vendor, outsider):
    model = Model.objects.create(organization=vendor.organization, slug="fresh", name="Fresh")
    ready_version(model)
    body = vendor.client.get("/api/v1/vendor/models/fresh/publish").json()
    assert body["ready"] is False
    assert [(item["key"], item["done"]) for item in body["checklist"]] == [
        ("version", True), ("license", False), ("plan", False)]
    assert body["checklist"][1]["missing"] == "a license (POST .../license)"
    assert outsider.client.get("/api/v1/vendor/models/fresh/publish").status_code == 404
