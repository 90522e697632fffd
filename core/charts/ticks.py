"""Axis ticks a person can read: round steps (1, 2 or 5 times a power of ten) that span the data.

A 0.01 maximum gets ticks 0, 0.002 ... 0.01, not 0 .. 1 with every line flat at the bottom.
Ticks are Decimals so their labels carry no float noise (0.30000000000000004).
"""

import math
from dataclasses import dataclass
from decimal import Decimal

# d3-array's thresholds: a raw step just over √50, √10 or √2 times a power of ten rounds to 10, 5
# or 2 of it, so the tick count lands near the one asked for.
_ROUNDING = ((math.sqrt(50), 10), (math.sqrt(10), 5), (math.sqrt(2), 2))


@dataclass(frozen=True)
class Axis:
    ticks: list[Decimal]
    decimals: int  # digits after the point every tick label shows

    @property
    def low(self) -> float:
        return float(self.ticks[0])

    @property
    def high(self) -> float:
        return float(self.ticks[-1])

    def label(self, tick: Decimal) -> str:
        return "0" if tick == 0 else f"{tick:,.{self.decimals}f}"


def _step(span: float, count: int) -> tuple[int, int]:
    """(factor, power): the step is factor x 10**power with factor 1, 2, 5 or 10."""
    raw = span / max(count, 1)
    power = math.floor(math.log10(raw))
    error = raw / 10**power
    factor = next((f for threshold, f in _ROUNDING if error >= threshold), 1)
    return factor, power


def nice_axis(low: float, high: float, *, count: int = 5, whole: bool = False) -> Axis:
    """About `count` intervals of one round step, from a tick at or below `low` to one at or above
    `high`. An empty range (no data, or all zero) gets 0 .. 1. `whole`: the values are counts, so
    the step is at least 1 (no "0.5 calls" tick)."""
    low, high = min(low, 0.0), max(high, 0.0)  # the charts compare amounts: zero stays on the axis
    if not math.isfinite(high - low) or high - low <= 0:
        high = low + 1.0
    factor, power = _step(high - low, count)
    # Rounding the ends outwards can widen the span enough to call for the next step: settle it.
    for _ in range(4):
        step = factor * 10.0**power
        again = _step((math.ceil(high / step - 1e-9) - math.floor(low / step + 1e-9)) * step, count)
        if again == (factor, power):
            break
        factor, power = again
    if whole and power < 0:
        factor, power = 1, 0
    step = factor * 10.0**power
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    step_exponent = power + (1 if factor == 10 else 0)
    step_decimal = Decimal(factor).scaleb(power)
    ticks = [step_decimal * i for i in range(first, last + 1)]
    return Axis(ticks=ticks, decimals=max(0, -step_exponent))


def format_number(value: float) -> str:
    """A figure for a legend or a bar end: whole numbers as they are, small amounts with three
    significant digits (0.00012, not 0.00 or 1.2e-04)."""
    if value == int(value):
        return f"{int(value):,}"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = min(max(2, 2 - magnitude), 10)
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
