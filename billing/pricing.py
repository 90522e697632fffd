"""What one call costs, from the plan's terms. Pure functions, no I/O.

Amounts are in minor units (cents) as a Decimal with four places: per-1k-unit and per-second
prices make fractions of a cent per call, and those must add up exactly on an invoice.

- free: nothing.
- payg: `unit_price_minor` per call, per 1,000 units, or per compute second.
- subscription: the monthly fee is invoiced separately; the first `included_calls` calls of a
  period are free, each call after that costs `overage_price_minor`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

FOUR_PLACES = Decimal("0.0001")
# Redis spend counters are integers in ten-thousandths of a minor unit.
SCALE = 10_000


class PlanTerms(Protocol):
    kind: str
    unit: str
    unit_price_minor: int
    included_calls: int
    overage_price_minor: int
    currency: str


def price_call(*, plan: PlanTerms, units: int, compute_ms: float | Decimal, calls_before: int) -> Decimal:
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
    else:
        raise ValueError(f"unknown plan unit {plan.unit!r}")
    return amount.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def estimate_call(*, plan: PlanTerms, units: int, calls_before: int) -> Decimal:
    """The amount to reserve before the run: exact except for compute-second plans, whose run
    time is unknown until the model ran (they reserve nothing and settle afterwards)."""
    return price_call(plan=plan, units=units, compute_ms=0, calls_before=calls_before)


def to_scaled(amount_minor: Decimal) -> int:
    return int((amount_minor * SCALE).to_integral_value(rounding=ROUND_HALF_UP))


def from_scaled(scaled: int) -> Decimal:
    return (Decimal(scaled) / SCALE).quantize(FOUR_PLACES)


def format_cost(amount_minor: Decimal, currency: str) -> str:
    """`X-Modelbay-Cost` value: major units and the ISO currency, e.g. `0.0125 USD`."""
    major = (amount_minor / 100).quantize(Decimal("0.000001"))
    return f"{major.normalize():f} {currency.upper()}"
