"""Password guessing is locked out per email and per address (django-axes), and the way out,
a completed password reset, tells nobody anything about which accounts exist."""

import re
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client

from accounts.models import AuditLog
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _login(email: str, password: str, ip: str = "198.51.100.4"):
    return Client(REMOTE_ADDR=ip).post("/accounts/login/", {"username": email, "password": password})


def test_fifty_wrong_passwords_then_the_right_one_does_not_log_in(buyer):
    for _ in range(50):
        _login(buyer.user.email, "guess")
    response = _login(buyer.user.email, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in response.wsgi_request.session
    html = response.content.decode()
    assert "Too many sign-in attempts" in html
    assert "Wait 15 minutes" in html
    assert "/accounts/password-reset/" in html
    assert response["Retry-After"] == str(15 * 60)


def test_the_lock_follows_the_email_from_any_address(buyer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        _login(buyer.user.email.upper(), "guess", ip=f"203.0.113.{n}")  # case does not reset it
    assert _login(buyer.user.email, PASSWORD, ip="192.0.2.50").status_code == 429


def test_the_lock_follows_the_address_across_emails(buyer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        _login(f"someone{n}@example.com", "guess", ip="203.0.113.9")
    assert _login(buyer.user.email, PASSWORD, ip="203.0.113.9").status_code == 429
    assert _login(buyer.user.email, PASSWORD, ip="192.0.2.50").status_code == 302


def test_the_locked_out_answer_is_the_same_for_known_and_unknown_emails(buyer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    answers = []
    for n, email in enumerate((buyer.user.email, "nobody@example.com")):
        for _ in range(4):
            response = _login(email, "guess", ip=f"203.0.113.{n}")
        page = re.sub(r'("X-CSRFToken": |csrfmiddlewaretoken" value=)"[^"]+"', "CSRF", response.content.decode())
        answers.append((response.status_code, page.replace(email, "EMAIL")))
    assert answers[0] == answers[1]
    assert answers[0][0] == 429


def test_the_lock_ends_after_the_wait(buyer, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    for _ in range(2):
        _login(buyer.user.email, "guess")
    assert _login(buyer.user.email, PASSWORD).status_code == 429
    time.sleep(1.2)
    assert _login(buyer.user.email, PASSWORD).status_code == 302


def test_asking_for_a_reset_looks_the_same_for_every_email_and_does_not_unlock(buyer, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        _login(buyer.user.email, "guess", ip="203.0.113.1")
    answers = set()
    for email in (buyer.user.email, "nobody@example.com"):
        response = Client().post("/accounts/password-reset/", {"email": email})
        answers.add((response.status_code, response["Location"]))
    assert answers == {(302, "/accounts/password-reset/sent/")}
    assert _login(buyer.user.email, PASSWORD, ip="192.0.2.50").status_code == 429  # still locked


def test_completing_a_password_reset_lifts_the_lock_for_that_email(buyer, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        _login(buyer.user.email, "guess", ip="203.0.113.1")
    client = Client()
    client.post("/accounts/password-reset/", {"email": buyer.user.email})
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[-1].body).group(1)
    form_url = client.get(link)["Location"]
    new = "a fresh passphrase 99"
    assert client.post(form_url, {"new_password1": new, "new_password2": new}).status_code == 302
    assert _login(buyer.user.email, new, ip="192.0.2.50").status_code == 302


def test_failed_attempts_stay_in_the_audit_log_with_the_real_address(settings):
    settings.AXES_FAILURE_LIMIT = 2
    UserFactory(email="ada@example.com")
    for _ in range(3):
        _login("ada@example.com", "guess", ip="203.0.113.5")
    rows = AuditLog.objects.filter(action="user.login_failed", target="ada@example.com")
    assert rows.count() >= 2 and {row.ip_address for row in rows} == {"203.0.113.5"}
