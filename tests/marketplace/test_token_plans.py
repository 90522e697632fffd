"""Plans priced per million input and output tokens (language models): the vendor API and the
portal form create them, contradictory terms are refused with what to do, buyers read the prices."""

from decimal import Decimal

import pytest

from marketplace.models import Model, Plan
from tests.factories import ready_version

pytestmark = pytest.mark.django_db

TOKEN_PLAN = {"name": "Chat", "kind": "payg", "unit": "1m_tokens", "input_price_per_million_minor": "50",
              "output_price_per_million_minor": "150"}
SUMMARY = "$0.50 / 1M input tokens · $1.50 / 1M output tokens"


@pytest.fixture
def llm(vendor) -> Model:
    model = Model.objects.create(organization=vendor.organization, slug="chat", name="Chat", task="text-generation")
    ready_version(model)
    assert vendor.client.post("/api/v1/vendor/models/chat/license", {
        "kind": "spdx", "identifier": "Apache-2.0", "text": "Apache License 2.0 ...", "commercial_use": True},
        format="json").status_code == 201
    return model


def test_vendor_api_creates_a_token_plan_that_buyers_read_in_the_catalog(vendor, buyer, client, llm):
    created = vendor.client.post("/api/v1/vendor/models/chat/plans", TOKEN_PLAN, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["unit"], body["input_price_per_million_minor"], body["output_price_per_million_minor"],
            body["unit_price_minor"]) == ("1m_tokens", "50.0000", "150.0000", 0)
    plan = Plan.objects.get(pk=body["id"])
    assert (plan.input_price_per_million_minor, plan.output_price_per_million_minor) == (Decimal(50), Decimal(150))
    assert vendor.client.post("/api/v1/vendor/models/chat/publish").json()["status"] == "published"

    detail = buyer.client.get("/api/v1/catalog/models/vendor-co/chat").json()
    assert [(p["input_price_per_million_minor"], p["output_price_per_million_minor"]) for p in detail["plans"]] == [
        ("50.0000", "150.0000")]
    assert SUMMARY in client.get("/catalog/vendor-co/chat/").content.decode()
    listing = client.get("/catalog/").content.decode()
    assert SUMMARY in listing and ">free<" not in listing  # a per-call price of 0 is not "free" here


@pytest.mark.parametrize("terms, says", [
    ({"unit": "call", "unit_price_minor": 2}, "Only a plan charged per million tokens"),
    ({"input_price_per_million_minor": "0", "output_price_per_million_minor": "0"}, "needs a price above 0"),
    ({"kind": "subscription", "monthly_fee_minor": 900}, "Token pricing is pay as you go"),
    ({"kind": "free", "included_calls": 100}, "Token pricing is pay as you go"),
    ({"unit_price_minor": 3}, "leave unit_price_minor at 0"),
    ({"input_price_per_million_minor": "0.00001"}, "Some fields are invalid"),
    ({"output_price_per_million_minor": "-1"}, "Some fields are invalid"),
])
def test_contradictory_token_terms_are_refused_with_what_to_do(vendor, llm, terms, says):
    refused = vendor.client.post("/api/v1/vendor/models/chat/plans", {**TOKEN_PLAN, **terms}, format="json")
    assert refused.status_code == 400 and says in refused.json()["error"]["message"]
    assert not Plan.objects.filter(model=llm).exists()


def test_the_portal_form_sets_the_two_token_prices(client, vendor, llm):
    client.force_login(vendor.user)
    page = client.get("/vendor/models/chat/plans/").content.decode()
    assert "Input price per 1M tokens" in page and "Output price per 1M tokens" in page
    form = {"name": "Chat", "kind": "payg", "currency": "usd", "unit": "1m_tokens", "input_price": "0.075",
            "output_price": "0.30"}
    preview = client.post("/vendor/models/chat/plans/preview/", form).content.decode()
    assert "$0.075 / 1M input tokens · $0.30 / 1M output tokens" in preview
    assert client.post("/vendor/models/chat/plans/", form).status_code == 302
    plan = Plan.objects.get(model=llm)
    assert (plan.unit, plan.input_price_per_million_minor, plan.output_price_per_million_minor) == (
        "1m_tokens", Decimal("7.5"), Decimal("30"))
    assert "$0.075 / 1M input tokens · $0.30 / 1M output tokens" in client.get(
        "/vendor/models/chat/plans/").content.decode()


def test_the_portal_form_refuses_token_prices_on_a_per_call_plan(client, vendor, llm):
    client.force_login(vendor.user)
    response = client.post("/vendor/models/chat/plans/", {
        "name": "Mixed", "kind": "payg", "currency": "usd", "unit": "call", "unit_price": "0.02",
        "input_price": "0.50"})
    assert response.status_code == 200
    assert "Only a plan charged per million tokens" in response.content.decode()
    assert not Plan.objects.filter(model=llm).exists()
