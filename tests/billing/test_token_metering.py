"""Token plans: language-model calls reserved at prompt + max_tokens, billed at the plan's two
prices per million tokens for the tokens actually used, the rest given back to the spend cap."""

import json
import random
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest

from billing import pricing
from billing.models import UsageEvent
from billing.services.limits import usage_limit_set
from billing.services.metering import Reservation, usage_commit, usage_reserve
from core.errors import PaymentRequired
from core.redis import get_redis
from marketplace.models import ModelVersion
from tests.billing.stripe_support import model_with_plan, subscribe, token_call
from tests.inference.serving import fresh_serving_caches  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_serving_caches")

# $0.50 per million input tokens, $1.50 per million output tokens, in cents.
PRICES = {"unit": "1m_tokens", "unit_price_minor": 0, "input_price_per_million_minor": Decimal("50"),
          "output_price_per_million_minor": Decimal("150")}


@pytest.fixture
def llm(vendor, buyer):
    model, plan = model_with_plan(vendor.organization, "llm", **PRICES)
    return subscribe(buyer, model, plan)


def spend_counter(buyer) -> int:
    keys = get_redis().keys(f"mb:s:org:{buyer.organization.pk}:*")
    return int(get_redis().get(keys[0])) if keys else 0


def test_a_token_call_costs_its_input_and_output_tokens_at_the_two_prices():
    plan = type("Terms", (), {"kind": "payg", "unit": "1m_tokens", "unit_price_minor": 0, "currency": "usd",
                              "input_price_per_million_minor": Decimal("7.5"),
                              "output_price_per_million_minor": Decimal("30")})
    # 1234 x 7.5 / 10^6 + 567 x 30 / 10^6 = 0.009255 + 0.01701 = 0.026265 cents -> 0.0263
    assert pricing.price_call(plan=plan, units=1801, compute_ms=9, calls_before=0, input_tokens=1234,
                              output_tokens=567) == Decimal("0.0263")
    assert pricing.estimate_call(plan=plan, units=0, calls_before=0, tokens=(1000, 4000)) == Decimal("0.1275")
    assert pricing.unit_price(plan, pricing.INPUT_TOKENS) == Decimal("0.0000075")
    assert pricing.dimensions(plan) == (pricing.INPUT_TOKENS, pricing.OUTPUT_TOKENS)


def test_n_token_calls_bill_exactly_the_reported_tokens(buyer, llm):
    usage_limit_set(organization=buyer.organization, spend_cap_minor=10_000)  # to watch the spend counter
    rng = random.Random(13)
    reported = [(rng.randint(1, 3000), rng.randint(1, 900)) for _ in range(25)]
    for prompt, produced in reported:
        token_call(buyer, llm, prompt=prompt, max_tokens=1024, produced=produced)
    events = list(UsageEvent.objects.order_by("id"))
    assert [(e.input_tokens, e.output_tokens) for e in events] == reported
    assert [e.units for e in events] == [p + o for p, o in reported]
    for event, (prompt, produced) in zip(events, reported, strict=True):
        exact = (Decimal(prompt) * 50 + Decimal(produced) * 150) / 1_000_000
        assert event.amount_minor == exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    # Nothing of the 25 x 1024 max_tokens reserved stays on the spend counter: it holds the ledger's total.
    assert spend_counter(buyer) == pricing.to_scaled(sum(e.amount_minor for e in events)) > 0


def test_a_spend_cap_the_estimate_would_cross_refuses_with_402_before_anything_is_recorded(buyer, llm):
    usage_limit_set(organization=buyer.organization, spend_cap_minor=1)
    # 1000 prompt tokens (0.05 cents) + max_tokens 10,000 (1.5 cents) = 1.55 cents > the 1-cent cap,
    # although a short answer would have cost less than the cap.
    with pytest.raises(PaymentRequired) as refused:
        usage_reserve(request_id="too-much", organization=buyer.organization, api_key=buyer.api_key,
                      model=llm.model, entitlement=llm, units=11_000, tokens=(1000, 10_000))
    assert refused.value.status_code == 402 and refused.value.details["spend_cap_minor"] == 1
    assert UsageEvent.objects.count() == 0 and spend_counter(buyer) == 0
    fits = token_call(buyer, llm, prompt=1000, max_tokens=4000, produced=4000)  # 0.05 + 0.6 cents
    assert fits.amount_minor == Decimal("0.65")


def test_output_tokens_not_produced_are_released_so_the_next_call_fits(buyer, llm):
    usage_limit_set(organization=buyer.organization, spend_cap_minor=2)
    # Each call reserves 0.05 + 1.5 = 1.55 cents of the 2-cent cap; two reservations never fit.
    first = token_call(buyer, llm, prompt=1000, max_tokens=10_000, produced=1000)
    assert first.amount_minor == Decimal("0.2") and spend_counter(buyer) == pricing.to_scaled(Decimal("0.2"))
    second = token_call(buyer, llm, prompt=1000, max_tokens=10_000, produced=10_000)  # 0.2 + 1.55 <= 2
    assert second.amount_minor == Decimal("1.55")
    with pytest.raises(PaymentRequired):  # 1.75 spent + 1.55 reserved > 2
        token_call(buyer, llm, prompt=1000, max_tokens=10_000, produced=1)
    assert UsageEvent.objects.count() == 2
    assert spend_counter(buyer) == pricing.to_scaled(Decimal("1.75"))


def test_a_retried_commit_records_and_settles_once(buyer, llm):
    usage_limit_set(organization=buyer.organization, spend_cap_minor=100)
    reservation = usage_reserve(request_id="once", organization=buyer.organization, api_key=buyer.api_key,
                                model=llm.model, entitlement=llm, units=3000, tokens=(1000, 2000))
    version = ModelVersion.objects.get(model=llm.model)
    first = usage_commit(reservation=reservation, version=version, compute_ms=3, input_tokens=1000, output_tokens=10)
    again = usage_commit(reservation=reservation, version=version, compute_ms=3, input_tokens=1000, output_tokens=10)
    assert first.pk == again.pk and UsageEvent.objects.count() == 1
    assert spend_counter(buyer) == pricing.to_scaled(first.amount_minor) == pricing.to_scaled(Decimal("0.0515"))


def test_a_reservation_crossing_processes_keeps_its_tokens(buyer, llm):
    reservation = usage_reserve(request_id=uuid.uuid4().hex, organization=buyer.organization, api_key=buyer.api_key,
                                model=llm.model, entitlement=llm, units=600, tokens=(100, 500))
    copy = Reservation.from_json(json.loads(json.dumps(reservation.to_json())))
    assert (copy.input_tokens, copy.output_tokens, copy.estimate_minor) == (100, 500, Decimal("0.08"))
    # Without tokens at commit (the /v2 path), what was reserved is what is billed.
    event = usage_commit(reservation=copy, version=ModelVersion.objects.get(model=llm.model), compute_ms=1)
    assert (event.input_tokens, event.output_tokens, event.amount_minor) == (100, 500, Decimal("0.08"))
    older = {k: v for k, v in reservation.to_json().items() if k != "tokens"}  # queued before tokens existed
    assert Reservation.from_json(older).output_tokens == 0


def test_a_token_plan_called_through_v2_bills_its_units_as_input_tokens(buyer, llm):
    reservation = usage_reserve(request_id="v2", organization=buyer.organization, api_key=buyer.api_key,
                                model=llm.model, entitlement=llm, units=20_000)
    event = usage_commit(reservation=reservation, version=ModelVersion.objects.get(model=llm.model), compute_ms=2)
    assert (event.input_tokens, event.output_tokens, event.amount_minor) == (20_000, 0, Decimal("1"))


def test_tokens_of_a_call_on_a_per_call_plan_are_recorded_but_it_costs_the_call(vendor, buyer):
    model, plan = model_with_plan(vendor.organization, "chatty", unit_price_minor=3)
    event = token_call(buyer, subscribe(buyer, model, plan), prompt=40, max_tokens=100, produced=7)
    assert (event.input_tokens, event.output_tokens, event.units, event.amount_minor) == (40, 7, 47, Decimal(3))
