import pytest
from rest_framework.test import APIClient

from accounts import privacy
from accounts.models import AuditLog, Organization
from core.redis import get_redis

pytestmark = pytest.mark.django_db(transaction=True)  # the purge runs on commit


def test_owner_switches_to_zero_retention_and_stored_results_are_deleted_at_once(buyer):
    key = privacy.result_key(organization_id=buyer.organization.pk, prediction_id="p1")
    get_redis().set(key, b"{}", ex=3600)
    response = buyer.client.put("/api/v1/account/data-policy", {"data_policy": "zero_retention"}, format="json")
    assert response.status_code == 200
    assert response.json()["async_result_ttl_seconds"] == 0
    assert Organization.objects.get(pk=buyer.organization.pk).data_policy == "zero_retention"
    assert not get_redis().exists(key)
    assert AuditLog.objects.filter(action="organization.data_policy_changed", organization=buyer.organization).exists()


def test_shorter_retention_trims_results_that_would_outlive_it(buyer):
    long_lived = privacy.result_key(organization_id=buyer.organization.pk, prediction_id="long")
    short_lived = privacy.result_key(organization_id=buyer.organization.pk, prediction_id="short")
    get_redis().set(long_lived, b"{}", ex=3600)
    get_redis().set(short_lived, b"{}", ex=60)
    response = buyer.client.put("/api/v1/account/data-policy",
                                {"data_policy": "short_retention", "retention_minutes": 5}, format="json")
    assert response.json()["async_result_ttl_seconds"] == 300
    assert not get_redis().exists(long_lived)
    assert get_redis().exists(short_lived)


def test_invalid_retention_is_refused_with_the_allowed_range(buyer):
    response = buyer.client.put("/api/v1/account/data-policy",
                                {"data_policy": "short_retention", "retention_minutes": 0}, format="json")
    assert response.status_code == 400
    assert "retention_minutes" in response.json()["error"]["details"]


def test_plain_member_cannot_change_the_policy(buyer):
    from accounts.models import Membership
    from tests.factories import UserFactory

    member = UserFactory()
    Membership.objects.create(user=member, organization=buyer.organization, role="member")
    client = APIClient()
    client.force_login(member)
    assert client.get("/api/v1/account/data-policy").status_code == 200
    assert client.put("/api/v1/account/data-policy", {"data_policy": "zero_retention"}, format="json").status_code == 403
