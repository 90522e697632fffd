"""Pages name a listing's task as people read it ("Text classification"); the id
("text-classification") stays in the filter's URL and the API (issue #16 item 4)."""

import re

import pytest

from marketplace.models import Model
from tests.factories import published_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def classifier(vendor) -> Model:
    model = published_model(vendor.organization, "sentiment")
    Model.objects.filter(pk=model.pk).update(task="text-classification")
    return model


def test_catalog_card_filter_and_model_page_show_the_task_label(client, classifier):
    html = client.get("/catalog/", {"task": "text-classification"}).content.decode()
    [card_task] = re.findall(r'data-testid="task">([^<]*)<', html)
    assert card_task == "Text classification"
    assert '<option value="text-classification" selected>Text classification</option>' in html
    detail = client.get("/catalog/vendor-co/sentiment/").content.decode()
    assert "· Text classification" in detail and "text-classification" not in detail
    api = client.get("/api/v1/catalog/models/vendor-co/sentiment").json()
    assert api["task"] == "text-classification"


def test_vendor_pages_show_the_task_label(client, vendor, classifier):
    client.force_login(vendor.user)
    assert "<td>Text classification</td>" in client.get("/vendor/").content.decode()
    page = client.get("/vendor/models/sentiment/").content.decode()
    assert "· Text classification" in page


def test_a_task_saved_before_the_list_shows_as_it_was_typed(client, vendor):
    Model.objects.create(organization=vendor.organization, slug="old", name="Old", task="legacy-thing")
    client.force_login(vendor.user)
    assert "<td>legacy-thing</td>" in client.get("/vendor/").content.decode()
