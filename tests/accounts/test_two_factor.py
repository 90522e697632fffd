"""Two-factor sign-in with an authenticator app: enrol, sign in with the code, disable."""

import re
import time

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditLog
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def code(device: TOTPDevice, step: int = 0) -> str:
    """What the app shows `step` periods from now (each code is accepted once, so tests move on)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + step * device.step
    return f"{totp.token():0{device.digits}d}"


def enrol(client: Client, user) -> list[str]:
    page = client.get("/accounts/security/").content.decode()
    assert "<svg" in page  # the QR code, inline
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post("/accounts/security/", {"action": "enable", "code": code(device)})
    return re.findall(r"<li><code>(\w+)</code></li>", response.content.decode())


def log_in(email: str, password: str = PASSWORD) -> tuple[Client, object]:
    client = Client()
    return client, client.post("/accounts/login/", {"username": email, "password": password})


@pytest.fixture
def enrolled(buyer):
    client = Client()
    client.force_login(buyer.user)
    backup_codes = enrol(client, buyer.user)
    return buyer, TOTPDevice.objects.get(user=buyer.user, confirmed=True), backup_codes


def test_enrolment_needs_a_working_code_and_shows_backup_codes_once(client, buyer):
    client.force_login(buyer.user)
    page = client.get("/accounts/security/").content.decode()
    assert "Two-factor sign-in" in page and "off" in page
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page).group(1)
    assert len(secret.replace(" ", "")) == 32
    wrong = client.post("/accounts/security/", {"action": "enable", "code": "000000"}).content.decode()
    assert "That code does not match" in wrong
    assert not TOTPDevice.objects.filter(user=buyer.user, confirmed=True).exists()
    time.sleep(1.1)  # django-otp's back-off after a wrong code: 1 s, then 2, 4, ...

    backup_codes = enrol(client, buyer.user)
    assert len(backup_codes) == 10
    assert TOTPDevice.objects.filter(user=buyer.user, confirmed=True).count() == 1
    again = client.get("/accounts/security/").content.decode()
    assert backup_codes[0] not in again and "Turn off two-factor sign-in" in again
    assert AuditLog.objects.filter(action="user.two_factor_enabled", actor=buyer.user).exists()


def test_the_password_alone_no_longer_signs_in(enrolled):
    buyer, device, _ = enrolled
    client, response = log_in(buyer.user.email)
    assert response["Location"] == "/accounts/login/code/"
    assert client.get("/accounts/keys/")["Location"].startswith("/accounts/login/")
    wrong = client.post("/accounts/login/code/", {"code": "123456"})
    assert "That code does not match" in wrong.content.decode()
    assert AuditLog.objects.filter(action="user.login_failed", target=buyer.user.email).exists()
    time.sleep(1.1)
    right = client.post("/accounts/login/code/", {"code": code(device, step=1)})
    assert right["Location"] == "/accounts/keys/"
    assert "API keys of Buyer Co" in client.get("/accounts/keys/").content.decode()


def test_a_backup_code_signs_in_once(enrolled):
    buyer, _, backup_codes = enrolled
    client, _ = log_in(buyer.user.email)
    assert client.post("/accounts/login/code/", {"code": backup_codes[0]})["Location"] == "/accounts/keys/"
    client, _ = log_in(buyer.user.email)
    assert client.post("/accounts/login/code/", {"code": backup_codes[0]}).status_code == 200  # used up


def test_guessing_codes_is_slowed_then_locked_out(enrolled, settings):
    buyer, device, _ = enrolled
    settings.AXES_FAILURE_LIMIT = 3
    client, _ = log_in(buyer.user.email)
    answers = [client.post("/accounts/login/code/", {"code": f"{n:06d}"}) for n in range(4)]
    texts = [a.content.decode() for a in answers]
    assert any("Too many wrong codes in a row" in text for text in texts)  # django-otp's back-off
    assert answers[-1].status_code == 429 and "Too many sign-in attempts" in texts[-1]


def test_the_code_step_expires(enrolled, monkeypatch):
    buyer, device, _ = enrolled
    client, _ = log_in(buyer.user.email)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 301)
    response = client.post("/accounts/login/code/", {"code": code(device, step=1)})
    assert response["Location"] == "/accounts/login/"


def test_turning_it_off_needs_a_code_and_is_audited(enrolled):
    buyer, device, _ = enrolled
    client = Client()
    client.force_login(buyer.user)
    refused = client.post("/accounts/security/", {"action": "disable", "code": "000000"}).content.decode()
    assert "That code does not match" in refused
    assert TOTPDevice.objects.filter(user=buyer.user).exists()
    time.sleep(1.1)
    client.post("/accounts/security/", {"action": "disable", "code": code(device, step=1)})
    assert not TOTPDevice.objects.filter(user=buyer.user).exists()
    assert AuditLog.objects.filter(action="user.two_factor_disabled", actor=buyer.user).exists()
    assert log_in(buyer.user.email)[1]["Location"] == "/accounts/keys/"


def test_the_admin_login_sends_people_through_the_two_factor_login(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/admin/")


def test_owners_without_two_factor_are_invited_to_turn_it_on(client, buyer):
    client.force_login(buyer.user)
    assert "two-factor sign-in" in client.get("/accounts/keys/").content.decode()
