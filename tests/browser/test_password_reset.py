"""Forgotten password, end to end in chromium: the emailed link sets a new one."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_password_reset_link_from_the_email_sets_a_new_password(page, buyer, live_server):
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(buyer.user.email)
    screenshot(page, "30-password-reset")
    page.get_by_role("button", name="Email me a reset link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    link = re.search(r"https?://\S+/accounts/reset/\S+/", mail.outbox[-1].body).group(0)
    assert link.startswith(live_server.url)
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("fresh passphrase 99")
    page.get_by_label("New password confirmation").fill("fresh passphrase 99")
    screenshot(page, "31-password-reset-confirm")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your password is changed")
    log_in(page, buyer.user.email, "fresh passphrase 99")
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys of Buyer Co")
