import pytest
from django.contrib.admin.sites import site
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from accounts.models import AuditLog, Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def actions_for(org) -> list[str]:
    return list(AuditLog.objects.filter(organization=org).values_list("action", flat=True))


def test_key_create_and_revoke_write_audit_rows_with_actor_and_ip(vendor):
    created = vendor.client.post("/api/v1/keys", {"name": "ci", "scopes": ["inference"]}, format="json",
                                 REMOTE_ADDR="203.0.113.7")
    vendor.client.delete(f"/api/v1/keys/{created.json()['id']}", REMOTE_ADDR="203.0.113.7")
    rows = AuditLog.objects.filter(organization=vendor.organization, action__startswith="api_key.")
    assert {r.action for r in rows} == {"api_key.created", "api_key.revoked"}
    for row in rows.filter(details__key_id=created.json()["id"]):
        assert row.actor == vendor.user
        assert row.ip_address == "203.0.113.7"


def test_role_change_writes_an_audit_row(vendor):
    member = UserFactory()
    membership = Membership.objects.create(user=member, organization=vendor.organization, role="member")
    client = APIClient()
    client.force_login(vendor.user)
    response = client.patch(f"/api/v1/orgs/current/members/{membership.pk}", {"role": "admin"}, format="json")
    assert response.status_code == 200
    row = AuditLog.objects.get(action="membership.role_changed")
    assert row.details == {"from": "member", "to": "admin"}
    assert row.target == member.email


def test_login_is_audited(vendor):
    # Through the login page: django-axes needs the request that a bare client.login() lacks.
    response = Client().post("/accounts/login/", {"username": vendor.user.email, "password": "correct horse battery"})
    assert response.status_code == 302
    assert AuditLog.objects.filter(action="user.logged_in", actor=vendor.user).exists()


def test_audit_rows_refuse_update_and_delete(vendor):
    row = AuditLog.objects.filter(organization=vendor.organization).first()
    row.action = "tampered"
    with pytest.raises(PermissionError):
        row.save()
    with pytest.raises(PermissionError):
        row.delete()
    with pytest.raises(PermissionError):
        AuditLog.objects.filter(pk=row.pk).update(action="tampered")
    with pytest.raises(PermissionError):
        AuditLog.objects.all().delete()
    assert AuditLog.objects.get(pk=row.pk).action != "tampered"


def test_admin_shows_audit_log_read_only(staff):
    request = RequestFactory().get("/admin/")
    request.user = staff.user
    model_admin = site._registry[AuditLog]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_org_audit_log_is_visible_to_its_owner_only(vendor, outsider):
    vendor.client.post("/api/v1/keys", {"name": "ci", "scopes": ["inference"]}, format="json")
    mine = vendor.client.get("/api/v1/orgs/current/audit-log").json()["results"]
    assert any(r["action"] == "api_key.created" for r in mine)
    theirs = outsider.client.get("/api/v1/orgs/current/audit-log").json()["results"]
    assert all(r["target"] != vendor.api_key.display_prefix for r in theirs)
