"""Real chromium (Debian's, at /usr/bin/chromium) driven by Playwright against a live server.

Playwright's sync API runs an asyncio loop in the test thread, which trips Django's
async-unsafe guard for ORM calls made by the test itself; the live server runs in its own
thread, so allowing them here is safe.
"""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import expect


@pytest.fixture(scope="package", autouse=True)
def _allow_orm_beside_playwrights_event_loop():
    """Playwright's sync API runs an event loop in the test thread, which Django's async-safety
    check mistakes for async code. Allowed for the browser tests only: set at import time it
    leaked into every subprocess of the suite (and `check --deploy` rightly refuses it)."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


def _install_chromium() -> str:
    """apt-get install chromium; returns what went wrong, or "" on success."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available"
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        result = subprocess.run([*sudo, *command], capture_output=True, text=True, env=env, timeout=900)
        if result.returncode != 0:
            return f"`{' '.join(command)}` failed: {result.stderr.strip()[-300:]}"
    return ""


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        problem = _install_chromium()
        if not CHROMIUM.exists():
            pytest.skip(f"chromium is not installed at {CHROMIUM} and installing it failed: {problem}")
    return str(CHROMIUM)


@pytest.fixture(scope="package")  # Playwright's loop must end with the browser tests, see above
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS)
        yield browser
        browser.close()


CSP_VIOLATION = re.compile(r"Content[- ]Security[- ]Policy", re.IGNORECASE)


@pytest.fixture
def csp_violations() -> list[str]:
    """Console messages of the test's pages about something the Content-Security-Policy refused."""
    return []


@pytest.fixture
def page(browser, live_server, csp_violations) -> Iterator:
    """A fresh browser context per test (no shared cookies), pointed at the live server. Whatever
    the test does, no page may trip the Content-Security-Policy (core/middleware.py): a refused
    script or style is a feature that silently stopped working."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    context.on("console", lambda message: csp_violations.append(f"{message.location.get('url')}: {message.text}")
               if CSP_VIOLATION.search(message.text) else None)
    page = context.new_page()
    yield page
    context.close()
    assert csp_violations == [], "the Content-Security-Policy refused something"


def screenshot(page, name: str) -> Path:
    """Saves a full-page PNG under tests/browser/screenshots/ for a person to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, email: str, password: str) -> None:
    """Fills the login form; opens it first unless the page is on it already (keeping ?next=)."""
    if "/accounts/login/" not in page.url:
        page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def sign_up(page, email: str, password: str, organization: str) -> None:
    """Signs up, follows the emailed confirmation link and logs in: ends on the keys page."""
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Organization name").fill(organization)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    link = re.search(r"http://\S+(/accounts/verify-email/\S+/)", mail.outbox[-1].body).group(1)
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your email is confirmed")
    log_in(page, email, password)
