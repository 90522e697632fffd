"""Sign-up says nothing about which emails have accounts; new accounts confirm their address
before they can create live keys."""

import io
import re

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client

from accounts.models import ApiKey, Organization, User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW = "new@example.com"


def _sign_up(email: str, organization_name: str = "Fresh Org"):
    client = Client()
    response = client.post("/accounts/signup/", {
        "email": email, "password": "a long passphrase 42", "organization_name": organization_name,
    })
    return client, response


def _visible(response) -> tuple:
    """What an observer of the response sees, minus the session id that differs anyway."""
    return response.status_code, response.get("Location"), sorted(response.cookies.keys()), response.content


def _link(body: str) -> str:
    return re.search(r"http://\S+(/accounts/verify-email/\S+/)", body).group(1)


def test_sign_up_answers_new_and_taken_emails_alike_and_emails_the_owner_instead(
        buyer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        new_client, new = _sign_up(NEW, "Fresh Org")
        taken_client, taken = _sign_up(buyer.user.email, "Other Org")
    assert _visible(new) == _visible(taken)
    assert new["Location"] == "/accounts/signup/sent/"
    pages = [re.sub(r'"X-CSRFToken": "[^"]+"', "CSRF", c.get("/accounts/signup/sent/").content.decode())
             for c in (new_client, taken_client)]
    assert pages[0].replace(NEW, "EMAIL") == pages[1].replace(buyer.user.email, "EMAIL")
    assert "exists" not in pages[1]
    assert "_auth_user_id" not in new_client.session  # nobody is logged in by a sign-up form
    to_new, to_owner = mail.outbox
    assert to_new.to == [NEW] and "/accounts/verify-email/" in to_new.body
    assert to_owner.to == [buyer.user.email]
    assert "You have an account already" in to_owner.body and "/accounts/password-reset/" in to_owner.body
    assert not Organization.objects.filter(slug="other-org").exists()
    assert User.objects.get(email=buyer.user.email).check_password(PASSWORD)  # untouched


def test_a_taken_organization_name_is_refused_whether_or_not_the_email_is_known(buyer):
    for email in (NEW, buyer.user.email):
        _, response = _sign_up(email, "Buyer Co")
        assert response.status_code == 200
        assert "The organization slug &#x27;buyer-co&#x27; is taken" in response.content.decode()
    assert not User.objects.filter(email=NEW).exists()


def test_an_unconfirmed_user_creates_test_keys_but_not_live_ones_until_the_link_is_opened(
        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client, _ = _sign_up(NEW)
    assert client.post("/accounts/login/", {"username": NEW, "password": "a long passphrase 42"}).status_code == 302
    page = client.get("/accounts/keys/").content.decode()
    assert "Confirm your email address to create live keys" in page
    assert "Email me a new link" in page

    refused = client.post("/accounts/keys/", {"name": "prod", "mode": "live", "scopes": ["inference"]}, follow=True)
    assert "Confirm your email address before creating live keys" in refused.content.decode()
    api = client.post("/api/v1/keys", {"name": "prod", "scopes": ["inference"]}, content_type="application/json")
    assert api.status_code == 403 and api.json()["error"]["code"] == "email_not_verified"
    assert client.post("/accounts/keys/", {"name": "trial", "mode": "test", "scopes": ["inference"]}).status_code == 200
    assert list(ApiKey.objects.values_list("name", "mode")) == [("trial", "test")]

    opened = client.get(_link(mail.outbox[0].body))
    assert opened["Location"] == "/accounts/keys/"
    assert User.objects.get(email=NEW).email_verified
    assert "Confirm your email address" not in client.get("/accounts/keys/").content.decode()
    client.post("/accounts/keys/", {"name": "prod", "mode": "live", "scopes": ["inference"]})
    assert ApiKey.objects.filter(name="prod", mode="live").exists()


def test_the_link_can_be_sent_again_but_not_flooded(django_capture_on_commit_callbacks):
    user = UserFactory(email=NEW, email_verified_at=None)
    client = Client()
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/accounts/verify-email/resend/", follow=True).content.decode()
        second = client.post("/accounts/verify-email/resend/", follow=True).content.decode()
    assert f"We sent a new confirmation link to {NEW}" in first
    assert "less than a minute ago" in second
    assert len(mail.outbox) == 1


def test_a_tampered_link_is_refused_and_says_what_to_do(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(NEW)
    link = _link(mail.outbox[0].body)
    response = Client().get(link[:-3] + "xx/")
    assert response.status_code == 400
    assert "send a new one" in response.content.decode()
    assert not User.objects.get(email=NEW).email_verified


def test_a_completed_password_reset_confirms_the_address(django_capture_on_commit_callbacks):
    UserFactory(email=NEW, email_verified_at=None)
    client = Client()
    client.post("/accounts/password-reset/", {"email": NEW})
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[-1].body).group(1)
    form_url = client.get(link)["Location"]
    client.post(form_url, {"new_password1": "a fresh passphrase 99", "new_password2": "a fresh passphrase 99"})
    assert User.objects.get(email=NEW).email_verified


def test_users_made_outside_sign_up_and_the_demo_seed_count_as_verified():
    assert UserFactory().email_verified
    assert User.objects.create_superuser("root@example.com", "x").email_verified
    call_command("seed_demo", stdout=io.StringIO())
    assert all(User.objects.filter(email__endswith="@modelbay.local").values_list("email_verified_at", flat=True))


@pytest.mark.django_db(transaction=True)
def test_users_that_existed_before_the_migration_count_as_verified():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = ("accounts", "0003_organization_privacy"), ("accounts", "0004_user_email_verified_at")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        old_user = executor.loader.project_state([before]).apps.get_model("accounts", "User")
        old_user.objects.create(email="veteran@example.com", password="!")
        executor = MigrationExecutor(connection)
        executor.migrate([after])
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert User.objects.get(email="veteran@example.com").email_verified
