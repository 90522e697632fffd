"""Whether modified versions may be shared is stored on each license revision (issue #16 item 4):
left out it is what the SPDX license says, set against the license it is kept with a warning, and a
custom EULA that says nothing stays "not stated" (null) rather than "not allowed"."""

import re

import pytest

from marketplace.license_presets import license_defaults
from marketplace.models import License, Model
from tests.factories import published_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(vendor) -> Model:
    return Model.objects.create(organization=vendor.organization, slug="tiny", name="Tiny")


def _post(vendor, **body):
    response = vendor.client.post("/api/v1/vendor/models/tiny/license", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_left_out_derivatives_come_from_the_license(vendor, model):
    body = _post(vendor, kind="spdx", identifier="MIT")
    assert (body["derivatives_allowed"], body["warnings"]) == (True, [])
    body = _post(vendor, kind="spdx", identifier="cc-by-nd-4.0")
    assert (body["identifier"], body["derivatives_allowed"], body["warnings"]) == ("CC-BY-ND-4.0", False, [])
    assert License.objects.get(model=model, is_current=True).derivatives_allowed is False


def test_a_custom_eula_or_an_unlisted_id_that_says_nothing_is_not_stated(vendor, model):
    body = _post(vendor, kind="custom", identifier="Tiny EULA", text="You may use it.")
    assert (body["derivatives_allowed"], body["warnings"]) == (None, [])
    assert _post(vendor, kind="spdx", identifier="Zlib")["derivatives_allowed"] is None
    assert _post(vendor, kind="custom", identifier="Tiny EULA", text="No forks.",
                 derivatives_allowed=False)["derivatives_allowed"] is False
    assert license_defaults(kind="custom", identifier="x", commercial_use=None, weight_download=None,
                            attribution_required=None, derivatives_allowed=None)["derivatives_allowed"] is None


def test_explicit_false_on_mit_is_kept_with_a_warning(vendor, model):
    body = _post(vendor, kind="spdx", identifier="MIT", derivatives_allowed=False)
    assert body["derivatives_allowed"] is False and body["commercial_use"] is True
    [warning] = body["warnings"]
    assert (warning["code"], warning["field"], warning["license_says"]) == (
        "contradicts_license", "derivatives_allowed", True)
    assert "MIT allows modified versions, yet buyers would be told they are not allowed" in warning["message"]
    [warning] = _post(vendor, kind="spdx", identifier="CC-BY-ND-4.0", derivatives_allowed=True)["warnings"]
    assert warning["field"] == "derivatives_allowed" and warning["license_says"] is False


def test_buyers_read_it_in_the_license_api(api_client_anon, vendor):
    published_model(vendor.organization, "sentiment", derivatives_allowed=False)
    license = api_client_anon.get("/api/v1/catalog/models/vendor-co/sentiment/license").json()
    assert license["derivatives_allowed"] is False
    detail = api_client_anon.get("/api/v1/catalog/models/vendor-co/sentiment").json()
    assert detail["license"]["derivatives_allowed"] is False


def test_the_form_saves_the_box_and_the_check_warns_against_the_license(client, vendor, model):
    client.force_login(vendor.user)
    page = client.get("/vendor/models/tiny/license/").content.decode()
    assert 'name="derivatives_allowed"' in page and 'value="CC-BY-ND-4.0"' in page
    html = client.post("/vendor/models/tiny/license/check/", {
        "kind": "spdx", "spdx_id": "CC-BY-ND-4.0", "commercial_use": "on", "weight_download": "on",
        "attribution_required": "on", "derivatives_allowed": "on"}).content.decode()
    assert 'data-field="derivatives_allowed"' in html and "does not allow sharing modified versions" in html
    client.post("/vendor/models/tiny/license/", {
        "kind": "spdx", "spdx_id": "MIT", "commercial_use": "on", "weight_download": "on",
        "attribution_required": "on", "derivatives_allowed": "on", "territory_mode": "anywhere"})
    assert License.objects.get(model=model, is_current=True).derivatives_allowed is True
    box = re.search(r'<input[^>]*name="derivatives_allowed"[^>]*>', client.get("/vendor/models/tiny/license/")
                    .content.decode())[0]
    assert " checked" in box


@pytest.mark.django_db(transaction=True)
def test_the_migration_takes_the_presets_value_and_leaves_the_rest_not_stated(vendor):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = ("marketplace", "0007_upload_sessions"), ("marketplace", "0008_license_derivatives_allowed")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        apps = executor.loader.project_state([before]).apps
        old_model, old_license = apps.get_model("marketplace", "Model"), apps.get_model("marketplace", "License")
        for slug, kind, identifier in [("mit", "spdx", "mit"), ("nd", "spdx", "CC-BY-ND-4.0"),
                                       ("zlib", "spdx", "Zlib"), ("eula", "custom", "MIT")]:
            listing = old_model.objects.create(organization_id=vendor.organization.pk, slug=slug, name=slug)
            old_license.objects.create(model=listing, revision=1, kind=kind, identifier=identifier, text_sha256="0")
        executor = MigrationExecutor(connection)
        executor.migrate([after])
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    stated = dict(License.objects.values_list("model__slug", "derivatives_allowed"))
    # A custom EULA named "MIT" is still its own text: not stated.
    assert stated == {"mit": True, "nd": False, "zlib": None, "eula": None}
