"""Least privilege for buyer keys: reading the catalog never spends money or takes weights."""

import pytest

from accounts.models import ApiKey
from marketplace.models import Download, Entitlement
from tests.conftest import make_persona
from tests.factories import published_model
from tests.marketplace.test_entitlements import subscribe

pytestmark = pytest.mark.django_db

READ = [ApiKey.Scope.CATALOG_READ]


def _entitlement_url(entitlement_id: int) -> str:
    return f"/api/v1/entitlements/{entitlement_id}"


def _download(persona, model):
    return persona.client.get(f"/api/v1/catalog/models/{model.organization.slug}/{model.slug}/download")


def test_a_catalog_read_key_can_browse_and_read_but_cannot_subscribe(vendor):
    model = published_model(vendor.organization)
    reader = make_persona("reader-co", scopes=READ)
    assert reader.client.get("/api/v1/catalog/models").status_code == 200
    assert reader.client.get("/api/v1/entitlements").status_code == 200
    response = subscribe(reader, model, model.plans.get())
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "missing_scope"
    assert error["details"]["required_scope"] == "catalog:subscribe"
    assert "create a key with it" in error["message"]
    assert not Entitlement.objects.filter(organization=reader.organization).exists()


def test_a_catalog_read_key_cannot_cancel_a_subscription(vendor, buyer):
    model = published_model(vendor.organization)
    entitlement_id = subscribe(buyer, model, model.plans.get()).json()["id"]
    reader = make_persona("reader-co", scopes=READ)
    # The read key belongs to the buyer's organization: same tenant, fewer powers.
    ApiKey.objects.filter(pk=reader.api_key.pk).update(organization=buyer.organization)
    assert reader.client.get(_entitlement_url(entitlement_id)).status_code == 200
    response = reader.client.delete(_entitlement_url(entitlement_id))
    assert response.status_code == 403
    assert response.json()["error"]["details"]["required_scope"] == "catalog:subscribe"
    assert Entitlement.objects.get(pk=entitlement_id).status == Entitlement.Status.ACTIVE


def test_a_catalog_read_key_cannot_download_weights(vendor, buyer):
    model = published_model(vendor.organization, weight_download=True)
    subscribe(buyer, model, model.plans.get())
    reader = make_persona("reader-co", scopes=READ)
    ApiKey.objects.filter(pk=reader.api_key.pk).update(organization=buyer.organization)
    response = _download(reader, model)
    assert response.status_code == 403
    assert response.json()["error"]["details"]["required_scope"] == "models:download"
    assert not Download.objects.exists()


def test_a_subscribe_key_subscribes_and_cancels_and_a_download_key_downloads(vendor):
    model = published_model(vendor.organization, weight_download=True)
    buyer = make_persona("shopper-co", scopes=[ApiKey.Scope.CATALOG_SUBSCRIBE, ApiKey.Scope.MODELS_DOWNLOAD])
    created = subscribe(buyer, model, model.plans.get())
    assert created.status_code == 201
    assert _download(buyer, model).status_code == 200
    assert buyer.client.delete(_entitlement_url(created.json()["id"])).status_code == 200


def test_the_new_scopes_are_offered_and_explained_on_the_key_form_and_in_the_api_schema(client, buyer):
    client.force_login(buyer.user)
    html = client.get("/accounts/keys/").content.decode()
    # Labelled, explained, and the API name in brackets for those who script key creation.
    assert "accept licenses, subscribe to paid plans and cancel them (spends money) (catalog:subscribe)" in html
    assert "download model weights where the license allows it (models:download)" in html
    schema = client.get("/api/schema/").content.decode()
    assert "catalog:subscribe" in schema and "models:download" in schema
