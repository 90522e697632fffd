"""The vendor's share of what buyers pay, and a month's estimate for a plan being typed (the plan
form's preview). The fee is billing's (PLATFORM_FEE_BPS, billing.services.payouts.platform_fee),
so the estimate takes off exactly what a payout will."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from marketplace.models import Plan
from marketplace.views.common import money

_VOLUME_UNIT = {Plan.Unit.CALL: "calls", Plan.Unit.THOUSAND_UNITS: "thousand units",
                Plan.Unit.COMPUTE_SECOND: "compute seconds"}


def vendor_share_percent() -> Decimal:
    """What a vendor keeps of each amount billed, in percent (80 for a 20% platform fee)."""
    return Decimal(10_000 - settings.PLATFORM_FEE_BPS) / 100  # Decimal("80"), Decimal("87.5")


def fee_percent() -> Decimal:
    return Decimal(settings.PLATFORM_FEE_BPS) / 100


@dataclass(frozen=True)
class Estimate:
    volume_text: str  # "10,000 calls"
    gross_minor: int
    fee_minor: int
    net_minor: int
    currency: str

    @property
    def text(self) -> str:
        return (f"At {self.volume_text} a month buyers pay {money(self.gross_minor, self.currency)}; you receive "
                f"{money(self.net_minor, self.currency)} after the {fee_percent()}% Modelbay fee "
                f"({money(self.fee_minor, self.currency)}).")


def monthly_estimate(plan: Plan, volume: int) -> Estimate:
    """What one buyer pays in a month of `volume` (calls; or thousands of units, compute seconds,
    or millions of input and of output tokens for plans charged by those), and the vendor's part."""
    if plan.kind == Plan.Kind.FREE:
        gross, what = Decimal(0), f"{volume:,} calls"
    elif plan.kind == Plan.Kind.SUBSCRIPTION:
        extra = max(0, volume - plan.included_calls)
        gross, what = Decimal(plan.monthly_fee_minor + extra * plan.overage_price_minor), f"{volume:,} calls"
    elif plan.unit == Plan.Unit.TOKENS:
        gross = volume * (Decimal(plan.input_price_per_million_minor) + Decimal(plan.output_price_per_million_minor))
        what = f"{volume:,} million input and {volume:,} million output tokens"
    else:
        gross, what = Decimal(volume * plan.unit_price_minor), f"{volume:,} {_VOLUME_UNIT.get(plan.unit, plan.unit)}"
    gross_minor = int(gross.quantize(Decimal(1), ROUND_HALF_UP))
    from billing.services.payouts import platform_fee  # billing sits above marketplace: import late

    fee = platform_fee(gross_minor)
    return Estimate(what, gross_minor, fee, gross_minor - fee, plan.currency)
