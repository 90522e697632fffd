"""Buyer console pages: subscribe with license evidence, usage with limits, playground, data."""

import re

import pytest

from accounts.models import ApiKey
from billing.models import UsageLimit
from marketplace.models import Entitlement, LicenseAcceptance
from tests.factories import published_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(vendor):
    return published_model(vendor.organization, "sentiment", commercial_use=False)


def _form(client, model):
    html = client.get("/console/subscribe/vendor-co/sentiment/").content.decode()
    license_id = re.search(r'name="license_id" value="(\d+)"', html)[1]
    plan = model.plans.get()
    return html, {"declared_use": "research", "territory": "de", "plan": plan.pk, "license_id": license_id,
                  "accept": "on"}


def test_buyer_subscribes_accepting_the_license_and_evidence_is_recorded(client, buyer, model):
    client.force_login(buyer.user)
    html, data = _form(client, model)
    assert "You may use it." in html
    response = client.post("/console/subscribe/vendor-co/sentiment/", data)
    assert response.status_code == 302 and response["Location"] == "/console/"
    acceptance = LicenseAcceptance.objects.get(organization=buyer.organization)
    assert (acceptance.declared_use, acceptance.territory, acceptance.user) == ("research", "DE", buyer.user)
    assert Entitlement.objects.get(organization=buyer.organization).status == "active"
    assert "sentiment" in client.get("/console/").content.decode()


def test_license_terms_refuse_commercial_use_on_the_form(client, buyer, model):
    client.force_login(buyer.user)
    _, data = _form(client, model)
    response = client.post("/console/subscribe/vendor-co/sentiment/", {**data, "declared_use": "commercial"})
    assert "does not allow commercial use" in response.content.decode()
    assert not Entitlement.objects.exists()


def test_acceptance_box_must_be_ticked(client, buyer, model):
    client.force_login(buyer.user)
    _, data = _form(client, model)
    data.pop("accept")
    response = client.post("/console/subscribe/vendor-co/sentiment/", data)
    assert response.status_code == 200 and not Entitlement.objects.exists()


def test_playground_builds_inputs_from_the_signature_with_a_short_lived_inference_key(client, buyer, model):
    client.force_login(buyer.user)
    html = client.get("/console/playground/vendor-co/sentiment/").content.decode()
    assert 'data-input="x"' in html and "[[0, 0, 0, 0]]" in html
    assert "has not subscribed to this model yet" in html
    key = ApiKey.objects.filter(organization=buyer.organization, name__startswith="playground").get()
    assert key.scopes == ["inference"] and key.expires_at is not None
    secret = re.search(r'data-key="(mb_live_\w+)"', html)[1]
    assert secret.startswith(key.display_prefix)


def test_usage_page_saves_a_spend_cap_and_shows_the_gauges(client, buyer):
    client.force_login(buyer.user)
    response = client.post("/console/usage/limits/", {"spend_cap": "25.00", "monthly_calls": "1000", "currency": "usd"})
    assert response.status_code == 302
    limit = UsageLimit.objects.get(organization=buyer.organization, api_key=None)
    assert (limit.spend_cap_minor, limit.monthly_calls) == (2500, 1000)
    html = client.get("/console/usage/").content.decode()
    assert "0% of the 25.00 USD cap" in html and "Calls per day by model" in html


def test_data_page_exports_and_erase_needs_the_slug(client, buyer):
    client.force_login(buyer.user)
    assert "Short Retention" in client.get("/console/data/").content.decode()
    export = client.post("/console/data/", {"action": "export"})
    assert export.status_code == 200 and "attachment" in export["Content-Disposition"]
    response = client.post("/console/data/", {"action": "erase", "confirm": "wrong"}, follow=True)
    assert "To confirm" in response.content.decode()
    response = client.post("/console/data/", {"action": "erase", "confirm": "buyer-co"}, follow=True)
    assert "personal data is erased" in response.content.decode()
    buyer.organization.refresh_from_db()
    assert buyer.organization.erased_at is not None


def test_invoices_page_lists_nothing_yet(client, buyer):
    client.force_login(buyer.user)
    assert "No invoices yet" in client.get("/console/invoices/").content.decode()


def test_playground_page_with_its_key_is_never_cached(client, buyer, model):
    client.force_login(buyer.user)
    response = client.get("/console/playground/vendor-co/sentiment/")
    assert "no-store" in response["Cache-Control"]


def test_owner_sets_zero_retention_on_the_data_page(client, buyer):
    from accounts.models import Organization

    client.force_login(buyer.user)
    response = client.post("/console/data/", {"action": "policy", "data_policy": "zero_retention", "retention_minutes": "60"})
    assert response.status_code == 302
    assert Organization.objects.get(pk=buyer.organization.pk).data_policy == "zero_retention"
    assert "Asynchronous results are never stored" in client.get("/console/data/").content.decode()
