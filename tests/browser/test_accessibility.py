"""Basic accessibility of every page this part builds: one main landmark, one h1, every form
control labelled, no empty links or buttons, a skip link reached first by keyboard."""

import pytest

from tests.browser.conftest import log_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROBLEMS_JS = """() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("no lang on <html>");
  if (document.querySelectorAll("main").length !== 1) problems.push("not exactly one <main>");
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) problems.push(h1 + " h1 elements");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!named) problems.push("unlabelled control " + (el.name || el.id));
  }
  for (const el of document.querySelectorAll("a[href], button")) {
    if (!el.textContent.trim() && !el.getAttribute("aria-label")) problems.push("control without a name: " + el.outerHTML.slice(0, 80));
  }
  return problems;
}"""

ANONYMOUS = ["/", "/accounts/signup/", "/accounts/login/", "/accounts/password-reset/", "/no/such/page/"]
SIGNED_IN = ["/accounts/keys/", "/accounts/members/", "/accounts/orgs/new/", "/dashboard/", "/dashboard/audit/"]


def test_pages_have_landmarks_headings_and_labelled_controls(page, staff):
    for path in ANONYMOUS:
        page.goto(path)
        assert page.evaluate(PROBLEMS_JS) == [], path
    log_in(page, staff.user.email, PASSWORD)
    for path in SIGNED_IN:
        page.goto(path)
        assert page.evaluate(PROBLEMS_JS) == [], path
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
