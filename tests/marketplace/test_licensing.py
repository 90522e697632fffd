import copy

import pytest

from accounts.models import AuditLog
from marketplace.models import LicenseAcceptance
from tests.factories import published_model
from tests.marketplace.test_entitlements import subscribe

pytestmark = pytest.mark.django_db


def test_non_commercial_license_refuses_a_commercial_subscription(vendor, buyer):
    model = published_model(vendor.organization, commercial_use=False)
    refused = subscribe(buyer, model, model.plans.get(), declared_use="commercial")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "license_forbids_use"
    assert "non_commercial" in refused.json()["error"]["message"]
    assert not LicenseAcceptance.objects.filter(organization=buyer.organization).exists()
    assert subscribe(buyer, model, model.plans.get(), declared_use="research").status_code == 201


def test_territory_restricted_license_refuses_a_buyer_from_a_denied_country(vendor, buyer):
    model = published_model(vendor.organization, territory_mode="deny", territories=["de", "FR"])
    refused = subscribe(buyer, model, model.plans.get(), territory="DE")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "license_forbids_territory"
    assert refused.json()["error"]["details"]["territories"] == ["DE", "FR"]
    # Declaring another country does not help an organization registered in a denied one.
    buyer.organization.country = "FR"
    buyer.organization.save()
    assert subscribe(buyer, model, model.plans.get(), territory="US").status_code == 403


def test_allow_list_license_accepts_only_listed_countries(vendor, buyer):
    model = published_model(vendor.organization, territory_mode="allow", territories=["US"])
    assert subscribe(buyer, model, model.plans.get(), territory="BR").status_code == 403
    assert subscribe(buyer, model, model.plans.get(), territory="US").status_code == 201


def test_acceptance_receipt_verifies_and_a_tampered_one_does_not(vendor, buyer, outsider):
    model = published_model(vendor.organization)
    receipt = subscribe(buyer, model, model.plans.get()).json()["receipt"]
    assert receipt["evidence"]["declared_use"] == "commercial"
    assert buyer.client.post("/api/v1/receipts/verify", {"receipt": receipt}, format="json").json() == {"valid": True}

    tampered = copy.deepcopy(receipt)
    tampered["evidence"]["declared_use"] = "research"
    assert buyer.client.post("/api/v1/receipts/verify", {"receipt": tampered}, format="json").json() == {"valid": False}
    forged = copy.deepcopy(receipt)
    forged["signature"] = "0" * 64
    assert buyer.client.post("/api/v1/receipts/verify", {"receipt": forged}, format="json").json() == {"valid": False}

    # Both parties can fetch the receipt again; another tenant cannot.
    acceptance_id = receipt["evidence"]["acceptance_id"]
    assert buyer.client.get(f"/api/v1/acceptances/{acceptance_id}/receipt").json() == receipt
    assert vendor.client.get(f"/api/v1/acceptances/{acceptance_id}/receipt").json() == receipt
    assert outsider.client.get(f"/api/v1/acceptances/{acceptance_id}/receipt").status_code == 404


def test_acceptance_evidence_records_who_where_and_what_text_and_is_append_only(vendor, buyer):
    model = published_model(vendor.organization)
    subscribe(buyer, model, model.plans.get(), territory="us")
    acceptance = LicenseAcceptance.objects.get(organization=buyer.organization)
    license = model.licenses.get(is_current=True)
    assert (acceptance.user, acceptance.accepted_by_email, acceptance.ip_address) == (
        buyer.user, "buyer-co@example.com", "198.51.100.9")
    assert acceptance.text_sha256 == license.text_sha256 and acceptance.territory == "US"
    with pytest.raises(PermissionError):
        acceptance.save()
    with pytest.raises(PermissionError):
        LicenseAcceptance.objects.filter(pk=acceptance.pk).update(declared_use="research")
    with pytest.raises(PermissionError):
        LicenseAcceptance.objects.filter(pk=acceptance.pk).delete()
    vendor_view = vendor.client.get(f"/api/v1/vendor/models/{model.slug}/acceptances").json()["results"]
    assert [a["id"] for a in vendor_view] == [acceptance.pk]


def test_license_change_makes_a_new_revision_and_is_audited(vendor):
    model = published_model(vendor.organization)
    response = vendor.client.post(f"/api/v1/vendor/models/{model.slug}/license", {
        "kind": "spdx", "identifier": "Apache-2.0", "commercial_use": True, "weight_download": True,
    }, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["revision"] == 2
    revisions = vendor.client.get(f"/api/v1/vendor/models/{model.slug}/license").json()
    assert [(r["revision"], r["identifier"]) for r in revisions] == [(2, "Apache-2.0"), (1, "Tiny EULA")]
    actions = list(AuditLog.objects.filter(organization=vendor.organization, action__startswith="license.")
                   .values_list("action", flat=True))
    assert sorted(actions) == ["license.created", "license.revised"]


def test_custom_eula_without_text_is_refused_with_what_to_do(vendor):
    model = published_model(vendor.organization)
    response = vendor.client.post(f"/api/v1/vendor/models/{model.slug}/license",
                                  {"kind": "custom", "identifier": "My EULA"}, format="json")
    assert response.status_code == 400
    assert "full text" in response.json()["error"]["message"]


def test_staff_can_read_any_acceptance_receipt_from_a_session(vendor, buyer, staff):
    from rest_framework.test import APIClient

    model = published_model(vendor.organization)
    receipt = subscribe(buyer, model, model.plans.get()).json()["receipt"]
    acceptance_id = receipt["evidence"]["acceptance_id"]
    assert staff.client.get(f"/api/v1/acceptances/{acceptance_id}/receipt").status_code == 404  # a key is a tenant
    client = APIClient()
    client.force_login(staff.user)
    assert client.get(f"/api/v1/acceptances/{acceptance_id}/receipt").json() == receipt
