"""Writes for a model's plans. Prices of a plan never change once it exists: a buyer subscribed
at a price keeps it; a vendor who wants a new price adds a plan and deactivates the old one
(so plan_update takes no prices and cannot make terms contradict each other).

Language models sell per million tokens: a pay-as-you-go plan with unit '1m_tokens' carries an
input and an output price per million tokens, and no other plan carries token prices."""

from decimal import Decimal, InvalidOperation

from django.db import transaction

from accounts.models import User
from accounts.services import audit_record
from core.errors import Conflict, InvalidInput, NotFound
from marketplace.models import Model, Plan
from marketplace.selectors.publishing import publish_checklist
from marketplace.services.licensing import license_stamp_versions

_CURRENCIES = {"usd", "eur", "gbp", "chf", "jpy", "cad", "aud"}
_FOUR_PLACES = Decimal("0.0001")
_MAX_TOKEN_PRICE = Decimal("100000000")  # the column holds 8 digits before the point


@transaction.atomic
def plan_create(
    *, model: Model, actor: User | None, name: str, kind: str, currency: str = "usd",
    unit: str = Plan.Unit.CALL, unit_price_minor: int = 0, monthly_fee_minor: int = 0,
    included_calls: int = 0, overage_price_minor: int = 0,
    input_price_per_million_minor: Decimal | int | str = 0, output_price_per_million_minor: Decimal | int | str = 0,
    ip_address: str | None = None,
) -> Plan:
    currency = currency.lower()
    if currency not in _CURRENCIES:
        raise InvalidInput(f"Use one of the currencies {', '.join(sorted(_CURRENCIES))}.")
    token_prices = _token_prices(unit=unit, kind=kind, unit_price_minor=unit_price_minor,
                                 input_price=input_price_per_million_minor, output_price=output_price_per_million_minor)
    if kind == Plan.Kind.FREE and included_calls <= 0:
        raise InvalidInput("A free tier needs included_calls > 0 (calls per month).")
    if kind == Plan.Kind.FREE and (unit_price_minor or monthly_fee_minor or overage_price_minor):
        raise InvalidInput("A free plan has no prices; use kind 'payg' or 'subscription' to charge.")
    if kind == Plan.Kind.PAYG and unit_price_minor <= 0 and unit != Plan.Unit.TOKENS:
        raise InvalidInput("A pay-as-you-go plan needs unit_price_minor > 0 (price per unit in minor units).")
    if kind == Plan.Kind.SUBSCRIPTION and monthly_fee_minor <= 0:
        raise InvalidInput("A subscription needs monthly_fee_minor > 0.")
    plan = Plan.objects.create(
        model=model, name=name, kind=kind, currency=currency, unit=unit,
        unit_price_minor=unit_price_minor if kind == Plan.Kind.PAYG else 0,
        monthly_fee_minor=monthly_fee_minor if kind == Plan.Kind.SUBSCRIPTION else 0,
        included_calls=included_calls if kind != Plan.Kind.PAYG else 0,
        overage_price_minor=overage_price_minor if kind == Plan.Kind.SUBSCRIPTION else 0,
        input_price_per_million_minor=token_prices[0], output_price_per_million_minor=token_prices[1],
    )
    audit_record(action="plan.created", actor=actor, organization=model.organization, target=model.full_name,
                 ip_address=ip_address, details={"plan_id": plan.pk, "kind": kind, "name": name})
    return plan


def _token_prices(*, unit: str, kind: str, unit_price_minor: int, input_price, output_price) -> tuple[Decimal, Decimal]:
    """The two per-million token prices of a token plan, refusing terms that contradict them."""
    try:
        prices = tuple(Decimal(str(p)) for p in (input_price, output_price))
    except InvalidOperation:
        raise InvalidInput("Token prices are numbers of minor units per million tokens, e.g. 7.5.") from None
    if any(not p.is_finite() or p < 0 or p != p.quantize(_FOUR_PLACES) or p >= _MAX_TOKEN_PRICE for p in prices):
        raise InvalidInput("Token prices are minor units per million tokens, from 0 to 99999999.9999 with at "
                           "most four decimals (7.5 = 7.5 cents per million tokens).")
    if unit != Plan.Unit.TOKENS:
        if any(prices):
            raise InvalidInput(f"Only a plan charged per million tokens (unit '{Plan.Unit.TOKENS}') has token "
                               "prices; set unit to '1m_tokens' or leave the token prices at 0.")
        return Decimal(0), Decimal(0)
    if kind != Plan.Kind.PAYG:
        raise InvalidInput("Token pricing is pay as you go: use kind 'payg' with unit '1m_tokens'. A free tier "
                           "and a subscription's included calls and overage count calls; use unit 'call' for those.")
    if unit_price_minor:
        raise InvalidInput("A token plan is priced by input_price_per_million_minor and "
                           "output_price_per_million_minor; leave unit_price_minor at 0.")
    if not any(prices):
        raise InvalidInput("A token plan needs a price above 0 for input or output tokens "
                           "(input_price_per_million_minor, output_price_per_million_minor, per million tokens).")
    return prices[0], prices[1]


@transaction.atomic
def plan_update(
    *, model: Model, plan_id: int, actor: User | None, name: str | None = None,
    is_active: bool | None = None, ip_address: str | None = None,
) -> Plan:
    plan = Plan.objects.select_for_update().filter(model=model, pk=plan_id).first()
    if plan is None:
        raise NotFound("No such plan on this model.")
    changes = {}
    if name is not None and name != plan.name:
        changes["name"] = [plan.name, name]
        plan.name = name
    if is_active is not None and is_active != plan.is_active:
        changes["is_active"] = [plan.is_active, is_active]
        plan.is_active = is_active
    if changes:
        plan.save(update_fields=["name", "is_active"])
        audit_record(action="plan.updated", actor=actor, organization=model.organization,
                     target=model.full_name, ip_address=ip_address, details={"plan_id": plan.pk, **changes})
    return plan


@transaction.atomic
def model_publish(*, model: Model, actor: User | None, ip_address: str | None = None) -> Model:
    """Lists the model in the public catalog once its terms are complete."""
    model = Model.objects.select_for_update().select_related("organization").get(pk=model.pk)
    if model.status == Model.Status.SUSPENDED:
        raise Conflict("This model is suspended by staff and cannot be published; contact support.",
                       details={"reason": model.suspended_reason})
    missing = [item.missing for item in publish_checklist(model=model) if not item.done]
    if missing:
        raise Conflict(f"Before publishing, add {'; '.join(missing)}.", details={"missing": missing})
    license_stamp_versions(model=model)
    model.status, model.visibility = Model.Status.PUBLISHED, Model.Visibility.PUBLIC
    model.save(update_fields=["status", "visibility", "updated_at"])
    audit_record(action="model.published", actor=actor, organization=model.organization, target=model.full_name,
                 ip_address=ip_address)
    return model


@transaction.atomic
def model_unpublish(*, model: Model, actor: User | None, ip_address: str | None = None) -> Model:
    model = Model.objects.select_for_update().select_related("organization").get(pk=model.pk)
    if model.status == Model.Status.PUBLISHED:
        model.status = Model.Status.DRAFT
        model.save(update_fields=["status", "updated_at"])
        audit_record(action="model.unpublished", actor=actor, organization=model.organization,
                     target=model.full_name, ip_address=ip_address)
    return model
