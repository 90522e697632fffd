import io
import json
import logging
import secrets
import zipfile

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, AuditLog, Organization
from accounts.privacy import result_key
from accounts.tasks import retention_purge
from core.redis import get_redis
from marketplace import receipts
from marketplace.models import Entitlement, LicenseAcceptance
from tests.conftest import make_persona
from tests.factories import published_model
from tests.marketplace.test_entitlements import subscribe
from tests.privacy import canary_hits, db_hits

pytestmark = pytest.mark.django_db


def session_client(persona) -> APIClient:
    client = APIClient()
    client.force_login(persona.user)
    return client


def test_canary_scanner_finds_a_string_in_json_columns_and_in_logs(buyer, caplog):
    canary = f"canary-{secrets.token_hex(6)}"
    assert canary_hits(canary, caplog=caplog) == []
    AuditLog.objects.create(action="test", details={"nested": [canary]})
    logging.getLogger("modelbay.test").warning("saw %s", canary)
    hits = canary_hits(canary, caplog=caplog)
    assert "accounts_auditlog.details" in hits and "log records" in hits


def test_export_contains_the_orgs_data_and_nothing_of_another_org(vendor, buyer, outsider):
    model = published_model(vendor.organization)
    subscribe(buyer, model, model.plans.get())
    subscribe(outsider, model, model.plans.get(), territory="CA")
    outsider_canary = f"outsider-secret-{secrets.token_hex(4)}"
    Organization.objects.filter(pk=outsider.organization.pk).update(name=outsider_canary)

    response = buyer.client.get("/api/v1/account/export")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    export = response.json()
    text = response.content.decode()
    tables = export["tables"]
    assert export["organization"]["slug"] == "buyer-co"
    assert [m["email"] for m in export["members"]] == ["buyer-co@example.com"]
    assert [e["id"] for e in tables["marketplace.entitlement"]] == list(
        Entitlement.objects.filter(organization=buyer.organization).values_list("pk", flat=True))
    assert tables["marketplace.licenseacceptance"][0]["ip_address"] == "198.51.100.9"
    assert {k["id"] for k in tables["accounts.apikey"]} == {buyer.api_key.pk}
    assert buyer.api_key.hashed_key not in text and "hashed_key" not in text
    for foreign in (outsider_canary, "outsider-co@example.com", "vendor-co@example.com", '"CA"'):
        assert foreign not in text
    # The vendor's export has its listing, not its buyers' people or addresses.
    vendor_text = vendor.client.get("/api/v1/account/export").content.decode()
    assert '"slug": "tiny"' in vendor_text
    assert "buyer-co@example.com" not in vendor_text and "198.51.100.9" not in vendor_text
    assert AuditLog.objects.filter(organization=buyer.organization, action="organization.exported").exists()


def test_large_export_is_a_zip(buyer, settings):
    settings.PRIVACY_EXPORT_ZIP_BYTES = 10
    response = buyer.client.get("/api/v1/account/export")
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert json.loads(archive.read("export.json"))["organization"]["slug"] == "buyer-co"


def test_erasure_removes_personal_data_and_keeps_acceptance_evidence(vendor):
    canary = f"canary{secrets.token_hex(4)}"
    buyer = make_persona(canary)  # user canary@example.com, organization slug canary
    model = published_model(vendor.organization)
    receipt = subscribe(buyer, model, model.plans.get()).json()["receipt"]
    assert db_hits(canary)

    assert buyer.client.post("/api/v1/account/erase", {"confirm": canary}).status_code == 403  # keys cannot
    client = session_client(buyer)
    assert client.post("/api/v1/account/erase", {"confirm": "wrong"}).status_code == 400
    response = client.post("/api/v1/account/erase", {"confirm": canary})
    assert response.status_code == 200, response.json()

    assert db_hits(canary) == []
    assert db_hits("198.51.100.9") == []
    assert buyer.client.get("/api/v1/entitlements").status_code == 401  # keys revoked
    assert not ApiKey.objects.filter(organization=buyer.organization, revoked_at__isnull=True).exists()
    buyer.user.refresh_from_db()
    assert not buyer.user.is_active and not buyer.user.has_usable_password()
    acceptance = LicenseAcceptance.objects.get(organization=buyer.organization)
    assert (acceptance.user_id, acceptance.accepted_by_email, acceptance.ip_address) == (None, "", None)
    assert acceptance.text_sha256 == model.licenses.get().text_sha256
    assert receipts.receipt_verify(receipt)  # evidence issued before erasure still verifies
    assert Entitlement.objects.get(organization=buyer.organization).status == "cancelled"
    assert AuditLog.objects.filter(organization=buyer.organization, action="organization.erased").exists()


def test_a_member_who_also_belongs_elsewhere_is_detached_not_anonymised(buyer, outsider):
    from accounts.models import Membership

    Membership.objects.create(user=outsider.user, organization=buyer.organization, role="member")
    session_client(buyer).post("/api/v1/account/erase", {"confirm": "buyer-co"})
    outsider.user.refresh_from_db()
    assert outsider.user.email == "outsider-co@example.com" and outsider.user.is_active
    assert not Membership.objects.filter(organization=buyer.organization).exists()
    assert outsider.client.get("/api/v1/keys").status_code == 200


def test_only_an_owner_can_erase(buyer):
    from accounts.models import Membership
    from tests.factories import UserFactory

    member = UserFactory()
    Membership.objects.create(user=member, organization=buyer.organization, role="admin")
    client = APIClient()
    client.force_login(member)
    assert client.post("/api/v1/account/erase", {"confirm": "buyer-co"},
                       HTTP_X_ORGANIZATION="buyer-co").status_code == 403
    assert Organization.objects.get(pk=buyer.organization.pk).erased_at is None


def test_retention_job_purges_results_that_outlived_their_policy(buyer, outsider):
    redis = get_redis()
    Organization.objects.filter(pk=outsider.organization.pk).update(data_policy="zero_retention")
    Organization.objects.filter(pk=buyer.organization.pk).update(retention_minutes=10)
    within = result_key(organization_id=buyer.organization.pk, prediction_id="within")
    too_long = result_key(organization_id=buyer.organization.pk, prediction_id="too-long")
    no_expiry = result_key(organization_id=buyer.organization.pk, prediction_id="no-expiry")
    zero = result_key(organization_id=outsider.organization.pk, prediction_id="zero")
    redis.set(within, b"x", ex=300)
    redis.set(too_long, b"x", ex=3600)
    redis.set(no_expiry, b"x")
    redis.set(zero, b"x", ex=60)

    assert retention_purge() == 3
    assert redis.exists(within) and not redis.exists(too_long)
    assert not redis.exists(no_expiry) and not redis.exists(zero)


@pytest.mark.django_db(transaction=True)
def test_retention_job_runs_in_a_real_worker(celery_worker):
    import time

    from tests.factories import OrganizationFactory

    org = OrganizationFactory(data_policy="zero_retention")
    key = result_key(organization_id=org.pk, prediction_id="left-behind")
    get_redis().set(key, b"x", ex=600)
    retention_purge.delay()
    deadline = time.monotonic() + 30
    while get_redis().exists(key) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not get_redis().exists(key), celery_worker.output()[-2000:]
