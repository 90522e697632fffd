import pytest
from rest_framework.test import APIClient

from marketplace.models import Entitlement, Model, Plan
from tests.factories import published_model, ready_version
from tests.marketplace.test_entitlements import subscribe

pytestmark = pytest.mark.django_db


def names(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [m["full_name"] for m in response.json()["results"]]


def test_catalog_never_shows_private_draft_or_suspended_models_to_outsiders(vendor, outsider):
    published_model(vendor.organization, "shown")
    private = published_model(vendor.organization, "private")
    Model.objects.filter(pk=private.pk).update(visibility="private")
    suspended = published_model(vendor.organization, "suspended")
    Model.objects.filter(pk=suspended.pk).update(status="suspended", suspended_reason="abuse")
    draft = Model.objects.create(organization=vendor.organization, slug="draft", name="Draft", visibility="public")
    ready_version(draft)

    for client in (APIClient(), outsider.client):
        assert names(client.get("/api/v1/catalog/models")) == ["vendor-co.shown"]
        for slug in ("private", "suspended", "draft"):
            assert client.get(f"/api/v1/catalog/models/vendor-co/{slug}").status_code == 404
            assert client.get(f"/api/v1/catalog/models/vendor-co/{slug}/license").status_code == 404
    refused = subscribe(outsider, suspended, suspended.plans.get())
    assert refused.status_code == 404
    assert not Entitlement.objects.filter(organization=outsider.organization).exists()


def test_model_page_shows_versions_signature_license_summary_and_plans(vendor):
    model = published_model(vendor.organization, plans=("free", "subscription"))
    page = APIClient().get(f"/api/v1/catalog/models/vendor-co/{model.slug}").json()
    assert page["full_name"] == "vendor-co.tiny" and page["description"] == "A tiny test model."
    assert page["versions"][0]["signature"]["inputs"][0] == {"name": "x", "datatype": "FP32", "shape": [-1, 4]}
    assert page["versions"][0]["license_id"] == page["license"]["id"]
    assert page["license"]["identifier"] == "Tiny EULA" and "text" not in page["license"]
    assert sorted(p["kind"] for p in page["plans"]) == ["free", "subscription"]
    full = APIClient().get(f"/api/v1/catalog/models/vendor-co/{model.slug}/license").json()
    assert full["text"] == "You may use it."


def test_catalog_filters_by_search_license_commercial_use_price_and_latency(vendor):
    published_model(vendor.organization, "alpha", commercial_use=True, plans=("payg",))
    beta = published_model(vendor.organization, "beta", commercial_use=False, plans=("subscription",))
    beta.versions.update(benchmark={"batches": {"1": {"p50_ms": 40.0}}})
    client = APIClient()
    assert names(client.get("/api/v1/catalog/models?q=alp")) == ["vendor-co.alpha"]
    assert names(client.get("/api/v1/catalog/models?commercial=true")) == ["vendor-co.alpha"]
    assert names(client.get("/api/v1/catalog/models?commercial=false")) == ["vendor-co.beta"]
    assert names(client.get("/api/v1/catalog/models?license_kind=spdx")) == []
    assert names(client.get("/api/v1/catalog/models?price_max=10")) == ["vendor-co.alpha"]
    assert names(client.get("/api/v1/catalog/models?latency_max_ms=1")) == ["vendor-co.alpha"]
    assert names(client.get("/api/v1/catalog/models?ordering=-price")) == ["vendor-co.beta", "vendor-co.alpha"]
    assert names(client.get("/api/v1/catalog/models?tag=tiny")) == ["vendor-co.alpha", "vendor-co.beta"]
    assert names(client.get("/api/v1/catalog/models?tag=absent")) == []
    assert client.get("/api/v1/catalog/models?price_max=cheap").status_code == 400


def test_publishing_needs_a_ready_version_a_license_and_a_plan(vendor):
    model = Model.objects.create(organization=vendor.organization, slug="bare", name="Bare")
    response = vendor.client.post("/api/v1/vendor/models/bare/publish")
    assert response.status_code == 409
    assert len(response.json()["error"]["details"]["missing"]) == 3
    model.refresh_from_db()
    assert model.status == "draft"


def test_buyer_mass_assignment_of_owner_status_or_price_is_ignored_or_refused(vendor, buyer):
    model = published_model(vendor.organization)
    plan = model.plans.get()
    response = subscribe(buyer, model, plan, unit_price_minor=0, monthly_quota=None, status="active",
                         organization=vendor.organization.pk, owner=buyer.organization.pk, plan_id=999)
    assert response.status_code == 201
    body = response.json()
    assert body["plan"]["unit_price_minor"] == 2
    entitlement = Entitlement.objects.get(pk=body["id"])
    assert entitlement.organization == buyer.organization and entitlement.plan == plan

    # The buyer cannot reach the vendor's terms at all: 404, nothing changed.
    assert buyer.client.patch(f"/api/v1/vendor/models/{model.slug}/plans/{plan.pk}",
                              {"unit_price_minor": 0, "is_active": False}, format="json").status_code == 404
    assert buyer.client.post(f"/api/v1/vendor/models/{model.slug}/plans",
                             {"name": "mine", "kind": "free", "included_calls": 10**6}, format="json").status_code == 404
    assert buyer.client.post(f"/api/v1/vendor/models/{model.slug}/publish").status_code == 404

    # The vendor's own PATCH cannot change prices or move the plan to another model either.
    vendor.client.patch(f"/api/v1/vendor/models/{model.slug}/plans/{plan.pk}",
                        {"unit_price_minor": 0, "model": 999, "name": "Renamed"}, format="json")
    plan.refresh_from_db()
    assert (plan.unit_price_minor, plan.model_id, plan.name) == (2, model.pk, "Renamed")
    assert Plan.objects.filter(model=model).count() == 1


def test_a_key_without_the_catalog_scope_cannot_browse_or_subscribe(vendor):
    from tests.conftest import make_persona

    model = published_model(vendor.organization)
    narrow = make_persona("narrow-co", scopes=["inference"])
    assert narrow.client.get("/api/v1/catalog/models").status_code == 403
    assert subscribe(narrow, model, model.plans.get()).status_code == 403


def test_whole_terms_flow_through_the_api(vendor, buyer, tmp_path):
    """Vendor sets terms and publishes; buyer finds, reads, subscribes and downloads a marked copy."""
    import io

    from django.core.management import call_command

    model = Model.objects.create(organization=vendor.organization, slug="flow", name="Flow", task="regression")
    ready_version(model)
    assert APIClient().get("/api/v1/catalog/models").json()["results"] == []
    license = vendor.client.post("/api/v1/vendor/models/flow/license", {
        "kind": "spdx", "identifier": "Apache-2.0", "text": "Apache License 2.0 ...", "commercial_use": True,
        "weight_download": True, "territory_mode": "deny", "territories": ["KP"],
    }, format="json").json()
    plan = vendor.client.post("/api/v1/vendor/models/flow/plans", {
        "name": "Metered", "kind": "payg", "unit": "1k_units", "unit_price_minor": 5}, format="json").json()
    assert vendor.client.post("/api/v1/vendor/models/flow/publish").json()["status"] == "published"

    found = buyer.client.get("/api/v1/catalog/models?license_kind=spdx&commercial=true").json()["results"]
    assert [m["full_name"] for m in found] == ["vendor-co.flow"]
    read = buyer.client.get("/api/v1/catalog/models/vendor-co/flow/license").json()
    assert read["id"] == license["id"] and read["text"].startswith("Apache")
    subscribed = buyer.client.post("/api/v1/catalog/models/vendor-co/flow/subscribe", {
        "plan": plan["id"], "declared_use": "commercial", "territory": "NL", "license_id": read["id"]},
        format="json")
    assert subscribed.status_code == 201, subscribed.json()
    assert subscribed.json()["plan"]["unit"] == "1k_units" and subscribed.json()["monthly_quota"] is None

    copy = buyer.client.get("/api/v1/catalog/models/vendor-co/flow/download")
    assert copy.status_code == 200
    (tmp_path / "copy.onnx").write_bytes(b"".join(copy.streaming_content))
    out = io.StringIO()
    call_command("verify_fingerprint", str(tmp_path / "copy.onnx"), stdout=out)
    assert "buyer organization: buyer-co" in out.getvalue()
