"""Buyers read whether modified versions may be shared wherever the license's terms are listed:
the catalog model page and the subscribe page (issue #16 item 4)."""

import re

import pytest

from marketplace.services.licensing import license_set
from tests.factories import published_model

pytestmark = pytest.mark.django_db


def _derivatives_row(html: str) -> str:
    return re.search(r'<th scope="row">Modified versions \(derivatives\)</th><td>([^<]*)</td>', html)[1]


def test_the_model_page_and_the_subscribe_page_show_what_the_license_says(client, buyer, vendor):
    model = published_model(vendor.organization, "sentiment")  # a custom EULA that says nothing
    client.force_login(buyer.user)
    assert _derivatives_row(client.get("/catalog/vendor-co/sentiment/").content.decode()) == (
        "Not stated; the license text decides")
    license_set(model=model, actor=None, kind="spdx", identifier="CC-BY-ND-4.0")
    assert _derivatives_row(client.get("/catalog/vendor-co/sentiment/").content.decode()) == "Not allowed"
    assert _derivatives_row(client.get("/console/subscribe/vendor-co/sentiment/").content.decode()) == "Not allowed"
    license_set(model=model, actor=None, kind="spdx", identifier="MIT")
    assert _derivatives_row(client.get("/console/subscribe/vendor-co/sentiment/").content.decode()) == "Allowed"
