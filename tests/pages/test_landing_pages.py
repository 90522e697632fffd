"""Where a login lands and what the nav offers, by the organization's side of the marketplace:
a vendor's (lists a model), a buyer's (subscribed, lists none) or a fresh one."""

import pytest

from marketplace.services.entitlements import entitlement_subscribe
from tests.accounts.test_two_factor import enrol
from tests.factories import PASSWORD, published_model

pytestmark = pytest.mark.django_db


def _log_in(client, persona, next_url: str = ""):
    url = "/accounts/login/" + (f"?next={next_url}" if next_url else "")
    return client.post(url, {"username": persona.user.email, "password": PASSWORD})


def _subscribed(buyer, vendor):
    model = published_model(vendor.organization, "tiny")
    entitlement_subscribe(organization=buyer.organization, user=buyer.user, model=model,
                          plan_id=model.plans.get().pk, declared_use="research", territory="DE")


def test_vendor_lands_in_the_vendor_portal(client, vendor):
    published_model(vendor.organization, "tiny")
    assert _log_in(client, vendor)["Location"] == "/vendor/"


def test_buyer_lands_in_the_console(client, buyer, vendor):
    _subscribed(buyer, vendor)
    assert _log_in(client, buyer)["Location"] == "/console/"


def test_fresh_organization_lands_on_its_keys(client, buyer):
    assert _log_in(client, buyer)["Location"] == "/accounts/keys/"


def test_next_wins_over_the_role(client, vendor):
    published_model(vendor.organization, "tiny")
    assert _log_in(client, vendor, next_url="/console/usage/")["Location"] == "/console/usage/"


def test_staff_still_land_on_the_dashboard(client, staff):
    assert _log_in(client, staff)["Location"] == "/dashboard/"


def test_buyer_only_organization_has_no_vendor_portal_link_but_can_start_selling(client, buyer, vendor):
    _subscribed(buyer, vendor)
    client.force_login(buyer.user)
    html = client.get("/console/").content.decode()
    assert ">Vendor portal<" not in html
    assert 'href="/vendor/models/new/">Sell a model<' in html


@pytest.mark.parametrize("side", ["vendor", "fresh"])
def test_vendor_and_fresh_organizations_see_the_vendor_portal_link(client, vendor, buyer, side):
    persona = vendor if side == "vendor" else buyer
    if side == "vendor":
        published_model(vendor.organization, "tiny")
    client.force_login(persona.user)
    assert '<a href="/vendor/">Vendor portal</a>' in client.get("/catalog/").content.decode()


def test_two_factor_login_lands_by_role_after_the_code_step(client, vendor):
    published_model(vendor.organization, "tiny")
    client.force_login(vendor.user)
    backup_codes = enrol(client, vendor.user)
    client.logout()
    assert _log_in(client, vendor)["Location"] == "/accounts/login/code/"
    assert client.post("/accounts/login/code/", {"code": backup_codes[0]})["Location"] == "/vendor/"
