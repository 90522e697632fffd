"""License presets (issue #16 item 4): an SPDX id fills the permissions it grants, through the
service, the vendor API and the portal form alike, and a setting that says something else than the
license is kept but warned about."""

import pytest

from marketplace.license_presets import PRESETS, license_defaults, license_warnings, preset_for
from marketplace.models import License, Model

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(vendor) -> Model:
    return Model.objects.create(organization=vendor.organization, slug="tiny", name="Tiny")


def test_mit_grants_commercial_use_download_derivatives_and_asks_attribution():
    mit = preset_for("mit")  # any letter case
    assert (mit.spdx_id, mit.commercial_use, mit.weight_download, mit.derivatives, mit.attribution_required) == (
        "MIT", True, True, True, True)
    assert preset_for("CC-BY-NC-4.0").commercial_use is False
    assert preset_for("CC-BY-ND-4.0").derivatives is False
    assert preset_for("CC0-1.0").attribution_required is False
    assert preset_for("My-Own-1.0") is None
    assert len({p.spdx_id.lower() for p in PRESETS}) == len(PRESETS)


def test_left_out_permissions_come_from_the_preset_and_given_ones_are_kept():
    assert license_defaults(kind="spdx", identifier="MIT", commercial_use=None, weight_download=None,
                            attribution_required=None) == {
        "commercial_use": True, "weight_download": True, "attribution_required": True, "derivatives_allowed": True}
    assert license_defaults(kind="spdx", identifier="MIT", commercial_use=False, weight_download=None,
                            attribution_required=None)["commercial_use"] is False
    assert license_defaults(kind="custom", identifier="MIT", commercial_use=None, weight_download=None,
                            attribution_required=None) == {
        "commercial_use": False, "weight_download": False, "attribution_required": False,
        "derivatives_allowed": None}


def test_each_setting_against_the_license_is_one_warning_naming_the_field():
    warnings = license_warnings(kind="spdx", identifier="MIT", commercial_use=False, weight_download=False,
                                attribution_required=True)
    assert [(w["field"], w["license_says"], w["code"]) for w in warnings] == [
        ("commercial_use", True, "contradicts_license"), ("weight_download", True, "contradicts_license")]
    assert "MIT allows commercial use" in warnings[0]["message"]
    [nc] = license_warnings(kind="spdx", identifier="CC-BY-NC-4.0", commercial_use=True, weight_download=True,
                            attribution_required=True)
    assert nc["field"] == "commercial_use" and "does not allow commercial use" in nc["message"]
    assert license_warnings(kind="custom", identifier="MIT", commercial_use=False, weight_download=False,
                            attribution_required=False) == []


def test_the_api_fills_an_mit_license_from_its_id(vendor, model):
    response = vendor.client.post("/api/v1/vendor/models/tiny/license", {"kind": "spdx", "identifier": "mit"},
                                  format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["identifier"], body["commercial_use"], body["weight_download"], body["attribution_required"]) == (
        "MIT", True, True, True)
    assert body["warnings"] == []
    saved = License.objects.get(model=model, is_current=True)
    assert (saved.identifier, saved.commercial_use, saved.weight_download) == ("MIT", True, True)


def test_the_api_keeps_a_contradicting_setting_and_says_so(vendor, model):
    response = vendor.client.post("/api/v1/vendor/models/tiny/license", {
        "kind": "spdx", "identifier": "MIT", "commercial_use": False}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["commercial_use"] is False and body["weight_download"] is True
    assert [(w["field"], w["license_says"]) for w in body["warnings"]] == [("commercial_use", True)]
    # Explicit false for every permission stays what a caller asked for, as before presets existed.
    body = vendor.client.post("/api/v1/vendor/models/tiny/license", {
        "kind": "spdx", "identifier": "Apache-2.0", "commercial_use": False, "weight_download": False,
        "attribution_required": False}, format="json").json()
    assert (body["commercial_use"], body["weight_download"], body["attribution_required"]) == (False, False, False)
    assert {w["field"] for w in body["warnings"]} == {"commercial_use", "weight_download", "attribution_required"}


def test_a_custom_eula_or_an_unlisted_id_has_no_defaults_and_no_warnings(vendor, model):
    body = vendor.client.post("/api/v1/vendor/models/tiny/license", {
        "kind": "custom", "identifier": "Tiny EULA", "text": "You may use it."}, format="json").json()
    assert (body["commercial_use"], body["weight_download"], body["warnings"]) == (False, False, [])
    body = vendor.client.post("/api/v1/vendor/models/tiny/license", {
        "kind": "spdx", "identifier": "Zlib"}, format="json").json()
    assert (body["identifier"], body["commercial_use"], body["warnings"]) == ("Zlib", False, [])


def test_the_api_lists_the_presets_for_vendors(vendor, api_client_anon):
    rows = vendor.client.get("/api/v1/vendor/license-presets").json()
    mit = next(r for r in rows if r["spdx_id"] == "MIT")
    assert mit["commercial_use"] and mit["weight_download"] and mit["derivatives"] and mit["attribution_required"]
    assert api_client_anon.get("/api/v1/vendor/license-presets").status_code in (401, 403)


def test_the_form_saves_the_ticked_permissions_and_warns_after_saving(client, vendor, model):
    client.force_login(vendor.user)
    page = client.get("/vendor/models/tiny/license/").content.decode()
    assert '<option value="MIT" data-commercial-use="1" data-weight-download="1"' in page
    assert 'data-testid="license-presets"' in page  # the visible table of what each license grants
    response = client.post("/vendor/models/tiny/license/", {
        "kind": "spdx", "spdx_id": "MIT", "attribution_required": "on", "territory_mode": "anywhere"}, follow=True)
    html = response.content.decode()
    saved = License.objects.get(model=model, is_current=True)
    assert (saved.identifier, saved.commercial_use, saved.weight_download) == ("MIT", False, False)
    assert "MIT allows commercial use, yet buyers would be told it is not allowed" in html
    assert 'class="message warning"' in html


def test_the_form_needs_a_license_from_the_list_or_a_typed_id(client, vendor, model):
    client.force_login(vendor.user)
    html = client.post("/vendor/models/tiny/license/", {"kind": "spdx", "territory_mode": "anywhere"}).content.decode()
    assert "Choose a license from the list." in html
    client.post("/vendor/models/tiny/license/", {"kind": "spdx", "spdx_id": "other", "identifier": "Zlib",
                                                 "territory_mode": "anywhere"})
    assert License.objects.get(model=model, is_current=True).identifier == "Zlib"
    page = client.get("/vendor/models/tiny/license/").content.decode()
    assert '<option value="other" selected>' in page and 'value="Zlib"' in page


def test_the_license_check_shows_what_the_license_grants_and_each_contradiction(client, vendor, model, outsider):
    client.force_login(vendor.user)
    html = client.post("/vendor/models/tiny/license/check/", {
        "kind": "spdx", "spdx_id": "CC-BY-NC-4.0", "commercial_use": "on", "weight_download": "on",
        "attribution_required": "on"}).content.decode()
    assert "CC-BY-NC-4.0 grants commercial use: no" in html
    assert 'data-field="commercial_use"' in html and 'data-field="weight_download"' not in html
    Model.objects.create(organization=outsider.organization, slug="theirs", name="Theirs")
    assert client.post("/vendor/models/theirs/license/check/", {"kind": "spdx"}).status_code == 404
