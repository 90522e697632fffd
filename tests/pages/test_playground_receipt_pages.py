"""The playground's receipt says what a unit is and whether the buyer's plan bills by units."""

import pytest

from marketplace.services.entitlements import entitlement_subscribe
from tests.factories import published_model

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("kind", "note"), [
    ("payg", "your plan bills per call, not per unit"),
    ("free", "your free plan counts calls, not units"),
    ("subscription", "your subscription counts calls, not units"),
])
def test_receipt_explains_units_for_the_buyers_plan(client, buyer, vendor, kind, note):
    model = published_model(vendor.organization, "tiny", plans=(kind,))
    entitlement_subscribe(organization=buyer.organization, user=buyer.user, model=model,
                          plan_id=model.plans.get().pk, declared_use="research", territory="DE")
    client.force_login(buyer.user)
    html = client.get("/console/playground/vendor-co/tiny/").content.decode()
    assert "1 unit = 1 tensor element sent (a token id, for a text model)" in html
    assert note in html


def test_receipt_explains_units_before_subscribing(client, buyer, vendor):
    published_model(vendor.organization, "tiny")
    client.force_login(buyer.user)
    html = client.get("/console/playground/vendor-co/tiny/").content.decode()
    assert "(1 unit = 1 tensor element sent (a token id, for a text model))" in html
