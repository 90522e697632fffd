import pytest
from rest_framework.test import APIClient

from accounts.models import Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_user_creates_an_organization_and_becomes_its_owner(db):
    user = UserFactory()
    response = session_client(user).post("/api/v1/orgs", {"name": "Initech Labs"}, format="json")
    assert response.status_code == 201
    assert response.json()["slug"] == "initech-labs"
    assert Membership.objects.get(user=user).role == "owner"


def test_taken_slug_is_a_conflict_that_says_what_to_do(vendor):
    response = session_client(UserFactory()).post("/api/v1/orgs", {"name": "x", "slug": vendor.organization.slug}, format="json")
    assert response.status_code == 409
    assert "choose another" in response.json()["error"]["message"]


def test_members_are_scoped_to_the_callers_organization(vendor, outsider):
    emails = [m["email"] for m in outsider.client.get("/api/v1/orgs/current/members").json()["results"]]
    assert emails == [outsider.user.email]


def test_outsider_cannot_change_roles_in_another_org(vendor, outsider):
    target = Membership.objects.get(user=vendor.user)
    response = session_client(outsider.user).patch(
        f"/api/v1/orgs/current/members/{target.pk}", {"role": "member"}, format="json"
    )
    assert response.status_code == 404
    assert Membership.objects.get(pk=target.pk).role == "owner"


def test_last_owner_cannot_step_down(vendor):
    own = Membership.objects.get(user=vendor.user)
    response = session_client(vendor.user).patch(f"/api/v1/orgs/current/members/{own.pk}", {"role": "member"}, format="json")
    assert response.status_code == 409


def test_session_user_can_act_for_a_named_org_only_if_member(vendor, outsider):
    client = session_client(vendor.user)
    assert client.get("/api/v1/orgs/current/members", HTTP_X_ORGANIZATION=outsider.organization.slug).status_code == 404
    assert client.get("/api/v1/orgs/current/members", HTTP_X_ORGANIZATION=vendor.organization.slug).status_code == 200
