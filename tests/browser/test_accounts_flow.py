"""A visitor becomes a customer: sign up, keys, members, log out and in — in real chromium."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import ApiKey, Invitation, User
from marketplace.services.entitlements import entitlement_subscribe
from tests.browser.conftest import log_in, screenshot
from tests.factories import PASSWORD as PERSONA_PASSWORD
from tests.factories import published_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase 42"


def test_visitor_signs_up_manages_keys_invites_and_logs_back_in(page):
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sell inference on your models")
    screenshot(page, "01-home")

    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("12345")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#id_password_error")).to_contain_text("This password is too short")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "02-signup-errors")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Organization name").fill("Analytical Engines")
    page.get_by_role("button", name="Create account").click()
    # The same answer for every address; the confirmation link comes by email.
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    screenshot(page, "02b-signup-check-inbox")
    link = re.search(r"http://\S+(/accounts/verify-email/\S+/)", mail.outbox[-1].body).group(1)
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your email is confirmed")
    page.get_by_role("link", name="Log in").last.click()
    log_in(page, "ada@example.com", PASSWORD)
    expect(page).to_have_url(re.compile(r"/accounts/keys/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys of Analytical Engines")
    expect(page.get_by_label("Organization", exact=True)).to_have_value("analytical-engines")
    expect(page.get_by_text("ada@example.com")).to_be_visible()

    # Create a key: the secret appears once, with a working copy button.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_label("Name").fill("production backend")
    page.get_by_label("billing:read", exact=False).check()
    page.get_by_role("button", name="Create key").click()
    secret_box = page.get_by_test_id("new-secret")
    expect(secret_box).to_have_text(re.compile(r"^mb_live_\w{49}$"))
    secret = secret_box.inner_text()
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#secret-copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, "03-api-key-created")
    key = ApiKey.objects.get(name="production backend")
    assert key.scopes == ["billing:read", "catalog:read", "inference"]

    page.reload()
    expect(page.get_by_test_id("new-secret")).to_have_count(0)
    assert secret not in page.content()
    row = page.get_by_role("row", name=re.compile("production backend"))
    expect(row).to_contain_text(key.display_prefix)
    expect(row).to_contain_text("never")  # last used
    screenshot(page, "04-api-keys")

    # Revoke, after a confirmation page.
    row.get_by_role("link", name=re.compile("Revoke")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke “production backend”?")
    screenshot(page, "05-api-key-revoke-confirm")
    page.get_by_role("button", name="Revoke the key").click()
    expect(page.get_by_role("status")).to_contain_text("is revoked")
    expect(page.get_by_role("row", name=re.compile("production backend"))).to_contain_text("revoked")
    key.refresh_from_db()
    assert key.revoked_at is not None

    # Invite a colleague who has no account yet: the link is shown once and emailed.
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email").fill("babbage@example.com")
    page.get_by_label("Role", exact=True).select_option("admin")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("status").first).to_contain_text("Invitation sent to babbage@example.com.")
    invite_link = page.locator("#invite-link").inner_text()
    expect(page.get_by_role("row", name=re.compile("babbage@example.com"))).to_contain_text("Admin")
    screenshot(page, "06-members-invited")
    assert Invitation.objects.get().email == "babbage@example.com"

    # Log out; the invitee signs up through the link and lands in the same organization.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    assert invite_link.startswith(page.url.split("/accounts/")[0])  # names the host in use
    page.goto(invite_link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Join Analytical Engines")
    screenshot(page, "07-invitation")
    page.get_by_role("link", name="Sign up to accept").click()
    expect(page.get_by_label("Email")).to_have_value("babbage@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys of Analytical Engines")
    assert [org.slug for org in User.objects.get(email="babbage@example.com").organizations.all()] == [
        "analytical-engines"
    ]
    page.get_by_role("button", name="Log out").click()

    # And the first user logs back in.
    log_in(page, "ada@example.com", "wrong password")
    expect(page.get_by_role("alert")).to_contain_text("That email and password do not match an account")
    screenshot(page, "08-login-error")
    log_in(page, "ada@example.com", PASSWORD)
    expect(page).to_have_url(re.compile(r"/accounts/keys/$"))
    page.get_by_role("link", name="Members").click()
    expect(page.get_by_role("row", name=re.compile("babbage@example.com"))).to_be_visible()
    screenshot(page, "09-members")


def test_layout_holds_on_a_phone(page, buyer):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "10-home-phone")
    page.goto("/accounts/signup/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "11-signup-phone")
    log_in(page, buyer.user.email, PERSONA_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys of Buyer Co")
    # Wide tables scroll inside their card; the page itself does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "13-api-keys-phone")


def test_organization_switcher_changes_the_organization_pages_act_for(page, buyer):
    log_in(page, buyer.user.email, PERSONA_PASSWORD)
    page.get_by_role("link", name="Create an organization").click()
    page.get_by_label("Name").fill("Side Project")
    screenshot(page, "12-organization-create")
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Members of Side Project")
    switcher = page.get_by_label("Organization", exact=True)
    expect(switcher).to_have_value("side-project")
    switcher.select_option("buyer-co")  # submits on change
    expect(page.get_by_role("heading", level=1)).to_have_text("Members of Buyer Co")
    expect(page.get_by_label("Organization", exact=True)).to_have_value("buyer-co")


def test_login_lands_by_role_and_a_buyer_is_not_offered_the_vendor_portal(page, vendor, buyer):
    model = published_model(vendor.organization, "tiny")
    entitlement_subscribe(organization=buyer.organization, user=buyer.user, model=model,
                          plan_id=model.plans.get().pk, declared_use="research", territory="DE")
    log_in(page, vendor.user.email, PERSONA_PASSWORD)
    expect(page).to_have_url(re.compile(r"/vendor/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your models")
    page.get_by_role("button", name="Log out").click()

    log_in(page, buyer.user.email, PERSONA_PASSWORD)
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Console of Buyer Co")
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Console")).to_be_visible()
    expect(main_nav.get_by_role("link", name="Vendor portal")).to_have_count(0)
    page.get_by_role("link", name="Sell a model").click()
    expect(page).to_have_url(re.compile(r"/vendor/models/new/$"))
