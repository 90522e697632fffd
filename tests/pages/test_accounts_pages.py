"""Account pages through the Django test client: what a person sees after each form."""

import re

import pytest
from django.core import mail

from accounts import keys
from accounts.models import ApiKey, AuditLog, Invitation, Membership, Organization, User
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_visitor_signs_up_confirms_the_address_and_works_in_their_new_organization(
        client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/signup/", {
            "email": "Ada@Example.com", "password": "a long passphrase 42", "organization_name": "Analytical Engines",
        })
    assert response.status_code == 302 and response["Location"] == "/accounts/signup/sent/"
    assert "Check your inbox" in client.get("/accounts/signup/sent/").content.decode()
    user = User.objects.get(email="ada@example.com")
    org = Organization.objects.get(slug="analytical-engines")
    assert Membership.objects.get(user=user, organization=org).role == "owner"
    assert not user.email_verified
    link = re.search(r"http://\S+(/accounts/verify-email/\S+/)", mail.outbox[-1].body).group(1)
    assert "confirmed" in client.get(link).content.decode()
    assert client.post("/accounts/login/", {"username": "ada@example.com", "password": "a long passphrase 42"}).status_code == 302
    page = client.get("/accounts/keys/")
    assert "API keys of Analytical Engines" in page.content.decode()
    assert {"user.signed_up", "organization.created", "user.email_verified"} <= set(
        AuditLog.objects.values_list("action", flat=True))


def test_signup_form_explains_each_mistake(client):
    response = client.post("/accounts/signup/", {"email": "not-an-email", "password": "12345678"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid email address." in html
    assert "This password is entirely numeric." in html
    assert 'aria-invalid="true"' in html
    assert "This field is required." in html  # organization name
    assert not User.objects.exists()


def test_signup_with_a_taken_email_answers_like_any_sign_up_and_emails_the_owner(
        client, buyer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/signup/", {
            "email": buyer.user.email, "password": "a long passphrase 42", "organization_name": "Other",
        })
    assert response["Location"] == "/accounts/signup/sent/"
    assert "exists already" not in client.get("/accounts/signup/sent/").content.decode()
    assert mail.outbox[-1].to == [buyer.user.email]
    assert "You have an account already" in mail.outbox[-1].body


def test_signup_with_a_taken_organization_name_names_the_slug(client, buyer):
    response = client.post("/accounts/signup/", {
        "email": "new@example.com", "password": "a long passphrase 42", "organization_name": "Buyer Co",
    })
    assert "The organization slug &#x27;buyer-co&#x27; is taken" in response.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()  # the whole sign-up rolled back


def test_login_with_a_wrong_password_says_what_to_do_and_is_audited(client, buyer):
    response = client.post("/accounts/login/", {"username": buyer.user.email, "password": "wrong"})
    assert "That email and password do not match an account" in response.content.decode()
    assert AuditLog.objects.filter(action="user.login_failed", target=buyer.user.email).exists()
    ok = client.post("/accounts/login/", {"username": buyer.user.email, "password": PASSWORD})
    assert ok.status_code == 302 and ok["Location"] == "/accounts/keys/"


def test_logout_is_a_post_and_ends_the_session(client, buyer):
    client.force_login(buyer.user)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/accounts/keys/")["Location"].startswith("/accounts/login/")


def test_api_key_secret_is_shown_once(client, buyer):
    client.force_login(buyer.user)
    response = client.post("/accounts/keys/", {"name": "backend", "mode": "test", "scopes": ["inference"]})
    html = response.content.decode()
    secret = re.search(r'data-testid="new-secret">(mb_test_\w+)<', html).group(1)
    api_key = ApiKey.objects.get(name="backend")
    assert api_key.hashed_key == keys.hash_key(secret) and api_key.scopes == ["inference"]
    assert "no-store" in response["Cache-Control"]
    again = client.get("/accounts/keys/").content.decode()
    assert secret not in again and api_key.display_prefix in again


def test_api_key_form_requires_a_scope_and_a_name(client, buyer):
    client.force_login(buyer.user)
    html = client.post("/accounts/keys/", {"name": "", "mode": "live"}).content.decode()
    assert "Tick at least one scope: a key without scopes can do nothing." in html
    assert "This field is required." in html
    assert ApiKey.objects.filter(organization=buyer.organization).count() == 1  # the persona's own


def test_plain_member_cannot_create_keys(client, buyer):
    member = MembershipFactory(organization=buyer.organization, role="member").user
    client.force_login(member)
    html = client.post("/accounts/keys/", {"name": "x", "mode": "live", "scopes": ["inference"]}).content.decode()
    assert "Only owners and admins of the organization can do this." in html
    assert not ApiKey.objects.filter(name="x").exists()


def test_revoking_a_key_asks_first_then_revokes_and_audits(client, buyer):
    client.force_login(buyer.user)
    confirm = client.get(f"/accounts/keys/{buyer.api_key.pk}/revoke/").content.decode()
    assert "This cannot be undone." in confirm
    buyer.api_key.refresh_from_db()
    assert buyer.api_key.revoked_at is None
    response = client.post(f"/accounts/keys/{buyer.api_key.pk}/revoke/", follow=True)
    buyer.api_key.refresh_from_db()
    assert buyer.api_key.revoked_at is not None
    assert "is revoked" in response.content.decode()
    assert AuditLog.objects.filter(action="api_key.revoked", actor=buyer.user).exists()
    assert buyer.client.get("/api/v1/keys").status_code == 401


def test_another_organizations_key_cannot_be_revoked(client, buyer, outsider):
    client.force_login(outsider.user)
    response = client.post(f"/accounts/keys/{buyer.api_key.pk}/revoke/", follow=True)
    assert "No such API key in this organization." in response.content.decode()
    buyer.api_key.refresh_from_db()
    assert buyer.api_key.revoked_at is None


def test_inviting_someone_with_an_account_adds_them_at_once(client, buyer):
    colleague = UserFactory(email="colleague@example.com")
    client.force_login(buyer.user)
    response = client.post("/accounts/members/", {"email": "Colleague@example.com", "role": "admin"}, follow=True)
    assert "colleague@example.com is now a member (admin)." in response.content.decode()
    assert Membership.objects.get(user=colleague, organization=buyer.organization).role == "admin"
    assert AuditLog.objects.filter(action="membership.added", target="colleague@example.com").exists()


def test_invitation_by_email_is_accepted_on_sign_up(client, buyer, django_capture_on_commit_callbacks):
    client.force_login(buyer.user)
    with django_capture_on_commit_callbacks(execute=True):
        html = client.post("/accounts/members/", {"email": "newcomer@example.com", "role": "member"}).content.decode()
    assert "Invitation sent to newcomer@example.com." in html
    (message,) = mail.outbox
    link = re.search(r"http://\S+/accounts/invitations/(\S+)/", message.body)
    token = link.group(1)
    assert f"http://testserver/accounts/invitations/{token}/" in html  # the inviter sees it once too
    client.logout()
    signup_page = client.get(f"/accounts/signup/?invitation={token}").content.decode()
    assert "You are joining <strong>Buyer Co</strong> as member." in signup_page
    assert "Organization name" not in signup_page
    response = client.post("/accounts/signup/", {
        "email": "newcomer@example.com", "password": "a long passphrase 42", "invitation": token,
    })
    assert response.status_code == 302
    newcomer = User.objects.get(email="newcomer@example.com")
    assert list(newcomer.organizations.all()) == [buyer.organization]
    assert Invitation.objects.get().accepted_by == newcomer
    # The link works once.
    assert "can no longer be used" in client.get(f"/accounts/invitations/{token}/").content.decode()


def test_invitation_for_another_address_cannot_be_accepted(client, buyer, outsider, django_capture_on_commit_callbacks):
    client.force_login(buyer.user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/members/", {"email": "someone@example.com", "role": "member"})
    token = re.search(r"/accounts/invitations/(\S+)/", mail.outbox[0].body).group(1)
    client.force_login(outsider.user)
    page = client.get(f"/accounts/invitations/{token}/").content.decode()
    assert "This invitation is for someone@example.com" in page
    response = client.post(f"/accounts/invitations/{token}/", follow=True)
    assert "log in with that address to accept it" in response.content.decode()
    assert not Membership.objects.filter(user=outsider.user, organization=buyer.organization).exists()


def test_signup_refuses_an_email_other_than_the_invited_one(client, buyer, django_capture_on_commit_callbacks):
    client.force_login(buyer.user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/members/", {"email": "invited@example.com", "role": "member"})
    token = re.search(r"/accounts/invitations/(\S+)/", mail.outbox[0].body).group(1)
    client.logout()
    html = client.post("/accounts/signup/", {
        "email": "intruder@example.com", "password": "a long passphrase 42", "invitation": token,
    }).content.decode()
    assert "This invitation is for invited@example.com." in html
    assert not User.objects.filter(email="intruder@example.com").exists()


def test_role_changes_go_through_the_service_rules(client, buyer):
    member = MembershipFactory(organization=buyer.organization, role="member")
    client.force_login(buyer.user)
    response = client.post(f"/accounts/members/{member.pk}/role/", {"role": "admin"}, follow=True)
    assert f"{member.user.email} is now admin." in response.content.decode()
    owner = Membership.objects.get(user=buyer.user, organization=buyer.organization)
    refused = client.post(f"/accounts/members/{owner.pk}/role/", {"role": "member"}, follow=True)
    assert "An organization needs at least one owner" in refused.content.decode()
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_switching_organization_changes_what_pages_show(client, buyer):
    client.force_login(buyer.user)
    client.post("/accounts/orgs/new/", {"name": "Second Shop", "slug": ""})
    assert "API keys of Second Shop" in client.get("/accounts/keys/").content.decode()
    client.post("/accounts/orgs/switch/", {"org": "buyer-co"})
    assert "API keys of Buyer Co" in client.get("/accounts/keys/").content.decode()


def test_switching_to_an_organization_one_is_not_in_is_refused(client, buyer, outsider):
    client.force_login(buyer.user)
    response = client.post("/accounts/orgs/switch/", {"org": outsider.organization.slug}, follow=True)
    html = response.content.decode()
    assert "You are not a member of that organization." in html
    assert "API keys of Buyer Co" in html


def test_organization_form_names_a_taken_slug(client, buyer, outsider):
    client.force_login(buyer.user)
    html = client.post("/accounts/orgs/new/", {"name": "Whatever", "slug": "outsider-co"}).content.decode()
    assert "The organization slug &#x27;outsider-co&#x27; is taken; choose another." in html


def test_password_reset_by_email_link(client, buyer):
    response = client.post("/accounts/password-reset/", {"email": buyer.user.email})
    assert response["Location"] == "/accounts/password-reset/sent/"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]  # Django swaps the token for a session marker
    weak = client.post(form_url, {"new_password1": "short", "new_password2": "short"}).content.decode()
    assert "This password is too short." in weak
    done = client.post(form_url, {"new_password1": "brand new passphrase 7", "new_password2": "brand new passphrase 7"})
    assert done["Location"] == "/accounts/reset/done/"
    assert client.post("/accounts/login/", {"username": buyer.user.email, "password": "brand new passphrase 7"}).status_code == 302
    assert "does not work" in client.get(link, follow=True).content.decode()  # used once


def test_user_without_organization_is_sent_to_create_one(client):
    client.force_login(UserFactory())
    response = client.get("/accounts/keys/")
    assert response["Location"] == "/accounts/orgs/new/"


def test_existing_user_accepts_an_invitation_after_logging_in(client, buyer, django_capture_on_commit_callbacks):
    client.force_login(buyer.user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/members/", {"email": "later@example.com", "role": "admin"})
    token = re.search(r"/accounts/invitations/(\S+)/", mail.outbox[0].body).group(1)
    client.logout()
    later = UserFactory(email="later@example.com")  # signed up elsewhere meanwhile
    invitation_page = client.get(f"/accounts/invitations/{token}/").content.decode()
    login_link = f"/accounts/login/?next=/accounts/invitations/{token}/"
    assert login_link in invitation_page
    response = client.post(login_link, {"username": "later@example.com", "password": PASSWORD})
    assert response["Location"] == f"/accounts/invitations/{token}/"
    accepted = client.post(response["Location"], follow=True).content.decode()
    assert "You joined Buyer Co as admin." in accepted
    assert Membership.objects.get(user=later, organization=buyer.organization).role == "admin"
    assert AuditLog.objects.filter(action="invitation.accepted", actor=later).exists()


def test_withdrawn_invitation_no_longer_works(client, buyer, django_capture_on_commit_callbacks):
    client.force_login(buyer.user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/members/", {"email": "maybe@example.com", "role": "member"})
    token = re.search(r"/accounts/invitations/(\S+)/", mail.outbox[0].body).group(1)
    invitation = Invitation.objects.get()
    response = client.post(f"/accounts/invitations/{invitation.pk}/revoke/", follow=True)
    assert "The invitation for maybe@example.com is withdrawn." in response.content.decode()
    client.logout()
    assert "can no longer be used" in client.get(f"/accounts/invitations/{token}/").content.decode()
    html = client.get(f"/accounts/signup/?invitation={token}").content.decode()
    assert "Organization name" in html  # a dead invitation gives an ordinary sign-up


def test_plain_member_sees_roles_but_cannot_invite(client, buyer):
    member = MembershipFactory(organization=buyer.organization, role="member").user
    client.force_login(member)
    page = client.get("/accounts/members/").content.decode()
    assert "Invite someone" not in page and "Change role" not in page
    assert buyer.user.email in page
    refused = client.post("/accounts/members/", {"email": "friend@example.com", "role": "member"}).content.decode()
    assert "Only owners and admins can invite members." in refused
    assert not Invitation.objects.exists()


def test_admin_cannot_invite_an_owner(client, buyer):
    admin = MembershipFactory(organization=buyer.organization, role="admin").user
    client.force_login(admin)
    html = client.post("/accounts/members/", {"email": "boss@example.com", "role": "owner"}).content.decode()
    assert "Only an owner can invite another owner." in html
    assert not Invitation.objects.exists()


def test_staff_land_on_the_dashboard_after_logging_in(client, staff):
    response = client.post("/accounts/login/", {"username": staff.user.email, "password": PASSWORD})
    assert response["Location"] == "/dashboard/"
