"""The subscribe form offers only the uses the license allows, and the country from a list."""

import re

import pytest

from marketplace.models import Entitlement
from tests.factories import published_model

pytestmark = pytest.mark.django_db


def test_commercial_use_is_not_offered_when_the_license_forbids_it(client, buyer, vendor):
    published_model(vendor.organization, "sentiment", commercial_use=False)
    client.force_login(buyer.user)
    html = client.get("/console/subscribe/vendor-co/sentiment/").content.decode()
    assert 'value="commercial"' not in html
    assert 'value="non_commercial"' in html and 'value="research"' in html
    assert "The license does not allow commercial use." in html


def test_commercial_use_is_offered_when_the_license_allows_it(client, buyer, vendor):
    published_model(vendor.organization, "sentiment", commercial_use=True)
    client.force_login(buyer.user)
    assert 'value="commercial"' in client.get("/console/subscribe/vendor-co/sentiment/").content.decode()


def test_country_is_chosen_from_a_list_of_named_countries(client, buyer, vendor):
    buyer.organization.country = "fr"
    buyer.organization.save()
    model = published_model(vendor.organization, "sentiment")
    client.force_login(buyer.user)
    html = client.get("/console/subscribe/vendor-co/sentiment/").content.decode()
    select = re.search(r'<select name="territory".*?</select>', html, re.DOTALL)[0]
    assert '<option value="DE">Germany</option>' in select
    assert '<option value="FR" selected>France</option>' in select  # the organization's own country
    assert len(re.findall("<option", select)) == 250  # 249 countries and "Choose a country"
    license_id = re.search(r'name="license_id" value="(\d+)"', html)[1]
    refused = client.post("/console/subscribe/vendor-co/sentiment/", {
        "declared_use": "research", "territory": "XX", "plan": model.plans.get().pk, "license_id": license_id,
        "accept": "on"})
    assert "Select a valid choice" in refused.content.decode() and not Entitlement.objects.exists()
