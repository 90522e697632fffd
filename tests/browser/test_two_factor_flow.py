"""An owner turns on two-factor sign-in, then signs in with password and code — in real chromium."""

import base64
import re
import time

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import expect

from accounts.models import AuditLog
from tests.browser.conftest import log_in, screenshot
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def app_code(secret: str, step: int = 0) -> str:
    """What an authenticator app shows for the secret typed in from the page."""
    key = base64.b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    totp = TOTP(key)
    totp.time = time.time() + 30 * step
    return f"{totp.token():06d}"


def test_owner_turns_on_two_factor_and_then_needs_the_code_to_sign_in(page, buyer):
    log_in(page, buyer.user.email, PASSWORD)
    page.get_by_role("link", name="two-factor sign-in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in security")
    expect(page.get_by_role("figure", name="QR code for your authenticator app").locator("svg")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text()
    screenshot(page, "20-two-factor-enrol")

    page.get_by_label("Code", exact=True).fill(app_code(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("status").first).to_contain_text("Two-factor sign-in is on")
    codes = page.get_by_test_id("backup-codes").locator("code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"\w{8}", code) for code in codes)
    screenshot(page, "21-two-factor-backup-codes")

    page.get_by_role("button", name="Log out").click()
    log_in(page, buyer.user.email, PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your sign-in code")
    screenshot(page, "22-two-factor-code")
    page.goto("/accounts/keys/")  # the password alone did not sign in
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    log_in(page, buyer.user.email, PASSWORD)
    page.get_by_label("Code", exact=True).fill(app_code(secret, step=1))  # the enrolment code is used up
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys of Buyer Co")
    assert AuditLog.objects.filter(action="user.two_factor_enabled", actor=buyer.user).exists()
