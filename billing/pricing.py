"""What one call costs, from the plan's terms. Pure functions, no I/O.

Amounts are in minor units (cents) as a Decimal with four places: per-1k-unit, per-second and
per-token prices make fractions of a cent per call, and those must add up exactly on an invoice.

- free: nothing.
- payg: `unit_price_minor` per call, per 1,000 units, or per compute second; or, for token
  plans (unit `1m_tokens`), `input_price_per_million_minor` per million prompt tokens plus
  `output_price_per_million_minor` per million completion tokens.
- subscription: the monthly fee is invoiced separately; the first `included_calls` calls of a
  period are free, each call after that costs `overage_price_minor`.

A plan is billed in one or more *dimensions*, each a Stripe meter and price and a line on the
invoice: `default` for every plan priced by one number, `input_tokens` and `output_tokens` for
token plans.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

FOUR_PLACES = Decimal("0.0001")
MILLION = 1_000_000
# Redis spend counters are integers in ten-thousandths of a minor unit.
SCALE = 10_000

TOKENS_UNIT = "1m_tokens"  # marketplace.models.Plan.Unit.TOKENS
DEFAULT = "default"
INPUT_TOKENS = "input_tokens"
OUTPUT_TOKENS = "output_tokens"


class PlanTerms(Protocol):
    kind: str
    unit: str
    unit_price_minor: int
    included_calls: int
    overage_price_minor: int
    currency: str
    input_price_per_million_minor: Decimal
    output_price_per_million_minor: Decimal


def is_token_plan(plan: PlanTerms) -> bool:
    return plan.kind == "payg" and plan.unit == TOKENS_UNIT


def dimensions(plan: PlanTerms) -> tuple[str, ...]:
    """The billed dimensions of a plan, each with its own meter, price and invoice line."""
    return (INPUT_TOKENS, OUTPUT_TOKENS) if is_token_plan(plan) else (DEFAULT,)


def unit_price(plan: PlanTerms, dimension: str = DEFAULT) -> Decimal:
    """Minor units per billed quantity of a dimension: per call / 1k units / compute second /
    overage call, or per token (the per-million price / 10^6: exact, at most 10 decimal places,
    inside the 12 that Stripe's `unit_amount_decimal` takes)."""
    if dimension == INPUT_TOKENS:
        return Decimal(plan.input_price_per_million_minor) / MILLION
    if dimension == OUTPUT_TOKENS:
        return Decimal(plan.output_price_per_million_minor) / MILLION
    if dimension != DEFAULT:
        raise ValueError(f"unknown billed dimension {dimension!r}")
    return Decimal(plan.overage_price_minor if plan.kind == "subscription" else plan.unit_price_minor)


def price_call(*, plan: PlanTerms, units: int, compute_ms: float | Decimal, calls_before: int,
               input_tokens: int = 0, output_tokens: int = 0) -> Decimal:
    """Amount for one call; `calls_before` is how many calls of this period came before it."""
    if plan.kind == "free":
        return Decimal(0)
    if plan.kind == "subscription":
        if calls_before < plan.included_calls:
            return Decimal(0)
        return Decimal(plan.overage_price_minor)
    price = Decimal(plan.unit_price_minor)
    if plan.unit == "call":
        amount = price
    elif plan.unit == "1k_units":
        amount = price * Decimal(units) / 1000
    elif plan.unit == "compute_second":
        amount = price * Decimal(str(compute_ms)) / 1000
    elif plan.unit == TOKENS_UNIT:
        amount = (Decimal(input_tokens) * Decimal(plan.input_price_per_million_minor)
                  + Decimal(output_tokens) * Decimal(plan.output_price_per_million_minor)) / MILLION
    else:
        raise ValueError(f"unknown plan unit {plan.unit!r}")
    return amount.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def estimate_call(*, plan: PlanTerms, units: int, calls_before: int, tokens: tuple[int, int] = (0, 0)) -> Decimal:
    """The amount to reserve before the run: exact except for compute-second plans, whose run
    time is unknown until the model ran (they reserve nothing and settle afterwards), and token
    plans, which reserve the prompt plus the most output tokens the call may produce."""
    return price_call(plan=plan, units=units, compute_ms=0, calls_before=calls_before,
                      input_tokens=tokens[0], output_tokens=tokens[1])


def to_scaled(amount_minor: Decimal) -> int:
    return int((amount_minor * SCALE).to_integral_value(rounding=ROUND_HALF_UP))


def from_scaled(scaled: int) -> Decimal:
    return (Decimal(scaled) / SCALE).quantize(FOUR_PLACES)


def format_cost(amount_minor: Decimal, currency: str) -> str:
    """`X-Modelbay-Cost` value: major units and the ISO currency, e.g. `0.0125 USD`."""
    major = (amount_minor / 100).quantize(Decimal("0.000001"))
    return f"{major.normalize():f} {currency.upper()}"
