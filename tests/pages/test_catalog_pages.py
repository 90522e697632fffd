"""Catalog pages: search and filters through catalog_search, model pages with terms and figures."""

import pytest

from marketplace.models import Model
from marketplace.services.moderation import model_suspend
from tests.factories import published_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def listings(vendor, outsider):
    commercial = published_model(vendor.organization, "sentiment", commercial_use=True)
    research = published_model(outsider.organization, "research-only", commercial_use=False, plans=("free",))
    Model.objects.create(organization=vendor.organization, slug="draft", name="Draft Model")
    return commercial, research


def test_anyone_sees_published_models_and_never_drafts(client, listings):
    html = client.get("/catalog/").content.decode()
    assert "Sentiment" in html and "Research-Only" in html
    assert "Draft Model" not in html


def test_filters_narrow_the_list(client, listings):
    html = client.get("/catalog/", {"commercial": "true"}).content.decode()
    assert "Sentiment" in html and "Research-Only" not in html
    html = client.get("/catalog/", {"price_max": "0"}).content.decode()
    assert "Research-Only" in html and "Sentiment" not in html
    html = client.get("/catalog/", {"q": "nothing-like-this"}).content.decode()
    assert "No model matches" in html
    html = client.get("/catalog/", {"latency_max_ms": "0.01"}).content.decode()
    assert "No model matches" in html


def test_model_page_shows_license_text_plans_and_benchmark(client, listings):
    html = client.get("/catalog/vendor-co/sentiment/").content.decode()
    assert "You may use it." in html  # the full EULA text
    assert "Commercial use" in html and "Allowed" in html
    assert "Pay as you go: 0.02 USD per call" in html
    assert "Log in to subscribe" in html
    assert "<svg" in html and ">batch 1</text>" in html and "p50 (median)</li>" in html


def test_suspended_model_leaves_the_catalog(client, listings, staff):
    model_suspend(model=listings[0], actor=staff.user, reason="under review")
    assert "Sentiment" not in client.get("/catalog/").content.decode()
    assert client.get("/catalog/vendor-co/sentiment/").status_code == 404
