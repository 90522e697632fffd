"""The vendor portal, catalog and console pass the same accessibility checks as part 1's pages
(tests/browser/test_accessibility.py): one main, one h1, labelled controls, named links."""

import pytest

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_accessibility import PROBLEMS_JS
from tests.factories import PASSWORD, published_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VENDOR_PAGES = ["/vendor/", "/vendor/models/new/", "/vendor/models/tiny/", "/vendor/models/tiny/edit/",
                "/vendor/models/tiny/upload/", "/vendor/models/tiny/versions/1.0.0/", "/vendor/models/tiny/license/",
                "/vendor/models/tiny/plans/", "/vendor/earnings/"]
BUYER_PAGES = ["/catalog/", "/catalog/vendor-co/tiny/", "/console/", "/console/subscribe/vendor-co/tiny/",
               "/console/playground/vendor-co/tiny/", "/console/usage/", "/console/invoices/", "/console/data/"]


def test_portal_and_console_pages_have_landmarks_headings_and_labelled_controls(page, browser, live_server,
                                                                                 vendor, buyer):
    published_model(vendor.organization, "tiny")
    log_in(page, vendor.user.email, PASSWORD)
    for path in VENDOR_PAGES:
        page.goto(path)
        assert page.evaluate(PROBLEMS_JS) == [], path
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    phone = context.new_page()
    log_in(phone, buyer.user.email, PASSWORD)
    for path in BUYER_PAGES:
        phone.goto(path)
        assert phone.evaluate(PROBLEMS_JS) == [], path
        # On a phone, wide tables scroll inside their card; the page itself does not scroll sideways.
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, path
    phone.goto("/catalog/vendor-co/tiny/")
    screenshot(phone, "49-catalog-model-phone")
    context.close()
