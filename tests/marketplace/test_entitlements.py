import pytest

from core.errors import LicenseNotAccepted
from marketplace.models import Entitlement
from marketplace.selectors.entitlements import entitlement_for, require_entitlement
from marketplace.services.licensing import license_set
from tests.factories import published_model

pytestmark = pytest.mark.django_db


def subscribe(persona, model, plan, **extra):
    body = {"plan": plan.pk, "declared_use": "commercial", "territory": "US", **extra}
    return persona.client.post(f"/api/v1/catalog/models/{model.organization.slug}/{model.slug}/subscribe",
                               body, format="json", REMOTE_ADDR="198.51.100.9")


def test_buyer_without_entitlement_is_told_how_to_accept_then_is_entitled_after_subscribing(vendor, buyer):
    model = published_model(vendor.organization)
    with pytest.raises(LicenseNotAccepted) as refused:
        require_entitlement(organization=buyer.organization, model=model)
    details = refused.value.details
    assert refused.value.status_code == 403
    assert details["subscribe_url"] == f"/api/v1/catalog/models/vendor-co/{model.slug}/subscribe"
    assert details["license_id"] == model.licenses.get(is_current=True).pk
    assert "subscribe" in refused.value.message

    plan = model.plans.get()
    response = subscribe(buyer, model, plan)
    assert response.status_code == 201, response.json()

    entitlement = entitlement_for(organization=buyer.organization, model=model)
    assert entitlement is not None and entitlement.pk == response.json()["id"]
    assert entitlement.plan == plan and entitlement.license.identifier == "Tiny EULA"
    assert require_entitlement(organization=buyer.organization, model=model).pk == entitlement.pk


def test_entitlement_lookup_is_cached_and_forgotten_when_cancelled(vendor, buyer, django_assert_num_queries):
    model = published_model(vendor.organization)
    entitlement_id = subscribe(buyer, model, model.plans.get()).json()["id"]
    entitlement_for(organization=buyer.organization, model=model)
    with django_assert_num_queries(0):
        assert entitlement_for(organization=buyer.organization, model=model).pk == entitlement_id

    assert buyer.client.delete(f"/api/v1/entitlements/{entitlement_id}").status_code == 200
    assert entitlement_for(organization=buyer.organization, model=model) is None
    with pytest.raises(LicenseNotAccepted):
        require_entitlement(organization=buyer.organization, model=model)


def test_the_owner_needs_no_entitlement_and_cannot_subscribe_to_itself(vendor):
    model = published_model(vendor.organization)
    assert require_entitlement(organization=vendor.organization, model=model) is None
    assert subscribe(vendor, model, model.plans.get()).status_code == 409


def test_quota_is_the_smaller_of_free_tier_and_license_cap(vendor, buyer):
    model = published_model(vendor.organization, plans=("free", "payg"), max_monthly_calls=50)
    free = model.plans.get(kind="free")
    assert subscribe(buyer, model, free).json()["monthly_quota"] == 50
    payg = model.plans.get(kind="payg")
    second = subscribe(buyer, model, payg).json()
    assert second["monthly_quota"] == 50  # payg is metered, but the license caps calls
    assert Entitlement.objects.filter(organization=buyer.organization, status="active").count() == 1
    assert Entitlement.objects.filter(organization=buyer.organization, status="cancelled").count() == 1


def test_subscribing_to_a_stale_license_revision_is_refused_with_the_current_one(vendor, buyer):
    model = published_model(vendor.organization)
    old = model.licenses.get(is_current=True)
    new = license_set(model=model, actor=vendor.user, kind="spdx", identifier="Apache-2.0", commercial_use=True)
    response = subscribe(buyer, model, model.plans.get(), license_id=old.pk)
    assert response.status_code == 409
    assert response.json()["error"]["details"]["current_license_id"] == new.pk
    old.refresh_from_db()
    assert old.identifier == "Tiny EULA" and old.revision == 1 and not old.is_current


def test_entitlement_changes_are_audited(vendor, buyer):
    from accounts.models import AuditLog

    model = published_model(vendor.organization)
    entitlement_id = subscribe(buyer, model, model.plans.get()).json()["id"]
    buyer.client.delete(f"/api/v1/entitlements/{entitlement_id}")
    actions = set(AuditLog.objects.filter(organization=buyer.organization).values_list("action", flat=True))
    assert {"license.accepted", "entitlement.created", "entitlement.cancelled"} <= actions
    row = AuditLog.objects.get(organization=buyer.organization, action="license.accepted")
    assert row.ip_address == "198.51.100.9" and row.actor == buyer.user


def test_outsider_cannot_see_or_cancel_anothers_entitlement(vendor, buyer, outsider):
    model = published_model(vendor.organization)
    entitlement_id = subscribe(buyer, model, model.plans.get()).json()["id"]
    assert outsider.client.get(f"/api/v1/entitlements/{entitlement_id}").status_code == 404
    assert outsider.client.delete(f"/api/v1/entitlements/{entitlement_id}").status_code == 404
    assert outsider.client.get("/api/v1/entitlements").json()["results"] == []
    assert entitlement_for(organization=buyer.organization, model=model) is not None


def test_an_answer_computed_before_a_cancellation_is_never_served_after_it(vendor, buyer):
    from django.core.cache import cache

    from marketplace.selectors.entitlements import _keys

    model = published_model(vendor.organization)
    entitlement_id = subscribe(buyer, model, model.plans.get()).json()["id"]
    gen_key, key = _keys(buyer.organization.pk, model.pk)
    stale = entitlement_for(organization=buyer.organization, model=model)
    generation = cache.get(gen_key, 0)
    buyer.client.delete(f"/api/v1/entitlements/{entitlement_id}")
    # A slow reader in another process stores what it read before the cancellation committed.
    cache.set(key, (generation, stale), 300)
    assert entitlement_for(organization=buyer.organization, model=model) is None
