"""Stripe objects for our rows, each created once.

Every create carries an idempotency key derived from our ids (and the row's creation time, so
a fresh database never collides with an old key), and the result is stored in a mapping row
that is read first. A retried task therefore finds the row, or replays Stripe's first answer.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import Organization
from billing import pricing
from billing.models import StripeCustomer, StripePrice, StripeSubscription
from billing.stripe_client import require_client
from marketplace.models import Entitlement, Plan

log = logging.getLogger(__name__)
PAID_KINDS = (Plan.Kind.PAYG, Plan.Kind.SUBSCRIPTION)


def idempotency_key(kind: str, row: Any) -> str:
    return f"modelbay-{kind}-{row.pk}-{int(row.created_at.timestamp())}"


def _opts(key: str) -> dict[str, Any]:
    return {"idempotency_key": key}


def customer_ensure(*, organization: Organization) -> StripeCustomer:
    found = StripeCustomer.objects.filter(organization=organization).first()
    if found is not None:
        return found
    customer = require_client().v1.customers.create(
        {"name": organization.name, "metadata": {"organization_id": str(organization.pk),
                                                   "organization_slug": organization.slug}},
        _opts(idempotency_key("customer", organization)),
    )
    return store_once(StripeCustomer, {"organization": organization}, stripe_id=customer.id)


def store_once(model, lookup: dict[str, Any], **values: Any):
    """Saves the mapping to a Stripe object once; a concurrent run that saved it first wins."""
    try:
        with transaction.atomic():
            return model.objects.create(**lookup, **values)
    except IntegrityError:  # a concurrent run stored the same Stripe object first
        return model.objects.get(**lookup)


_DIMENSION_NAMES = {pricing.DEFAULT: "", pricing.INPUT_TOKENS: "input tokens", pricing.OUTPUT_TOKENS: "output tokens"}


def plan_prices_ensure(*, plan: Plan) -> list[StripePrice]:
    """Every billed dimension's Stripe objects of a plan (one for most plans, two for tokens)."""
    return [plan_price_ensure(plan=plan, dimension=dimension) for dimension in pricing.dimensions(plan)]


def plan_price_ensure(*, plan: Plan, dimension: str = pricing.DEFAULT) -> StripePrice:
    """The Product, Meter and metered Price of one dimension of a plan. A token dimension has a
    Product of its own, so the invoice line names it ("... input tokens"), and its meter counts
    whole tokens at the per-million price / 10^6 (Stripe's meters take whole numbers only)."""
    found = StripePrice.objects.filter(plan=plan, dimension=dimension).first()
    if found is not None:
        return found
    client = require_client()
    # The default dimension sends what it sent before dimensions existed (same idempotency keys,
    # same parameters), so a retry across this change replays Stripe's first answer.
    suffix = "" if dimension == pricing.DEFAULT else f"-{dimension}"
    tag = {} if dimension == pricing.DEFAULT else {"dimension": dimension}
    what = _DIMENSION_NAMES[dimension]
    product_params: dict[str, Any] = {
        "name": f"{plan.model.full_name} — {plan.name}" + (f": {what}" if what else ""),
        "metadata": {"plan_id": str(plan.pk), "model_id": str(plan.model_id), **tag}}
    if what:
        product_params["unit_label"] = "token"
    product = client.v1.products.create(product_params, _opts(idempotency_key(f"product{suffix}", plan)))
    event_name = f"modelbay_plan_{plan.pk}{suffix.replace('-', '_')}_{int(plan.created_at.timestamp())}"
    meter = client.v1.billing.meters.create(
        {"display_name": f"{plan.model.full_name} {plan.name} ({what or plan.unit})", "event_name": event_name,
         "default_aggregation": {"formula": "sum"},
         "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
         "value_settings": {"event_payload_key": "value"}},
        _opts(idempotency_key(f"meter{suffix}", plan)),
    )
    price = client.v1.prices.create(
        {"currency": plan.currency.lower(), "product": product.id,
         "unit_amount_decimal": format(pricing.unit_price(plan, dimension).normalize(), "f"),
         "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
         "metadata": {"plan_id": str(plan.pk), **tag}},
        _opts(idempotency_key(f"price{suffix}", plan)),
    )
    fee_price_id = ""
    if plan.kind == Plan.Kind.SUBSCRIPTION and plan.monthly_fee_minor and dimension == pricing.DEFAULT:
        fee = client.v1.prices.create(
            {"currency": plan.currency.lower(), "product": product.id, "unit_amount": plan.monthly_fee_minor,
             "recurring": {"interval": "month", "usage_type": "licensed"}, "metadata": {"plan_id": str(plan.pk)}},
            _opts(idempotency_key("fee-price", plan)),
        )
        fee_price_id = fee.id
    return store_once(StripePrice, {"plan": plan, "dimension": dimension}, product_id=product.id,
                      meter_id=meter.id, event_name=event_name, price_id=price.id, fee_price_id=fee_price_id)


def subscription_ensure(*, entitlement: Entitlement) -> StripeSubscription | None:
    """A Stripe subscription for an active entitlement on a paid plan (None for free plans)."""
    found = StripeSubscription.objects.filter(entitlement=entitlement).first()
    if found is not None or entitlement.plan.kind not in PAID_KINDS:
        return found
    customer = customer_ensure(organization=entitlement.organization)
    prices = plan_prices_ensure(plan=entitlement.plan)
    items: list[dict[str, Any]] = [{"price": price.price_id} for price in prices]
    items += [{"price": price.fee_price_id, "quantity": 1} for price in prices if price.fee_price_id]
    sub = require_client().v1.subscriptions.create(
        {"customer": customer.stripe_id, "items": items,
         "metadata": {"entitlement_id": str(entitlement.pk), "plan_id": str(entitlement.plan_id)}},
        _opts(idempotency_key("subscription", entitlement)),
    )
    return store_once(StripeSubscription, {"entitlement": entitlement}, stripe_id=sub.id, status=sub.status,
                  started_at=datetime.fromtimestamp(sub.start_date, tz=UTC))


def subscription_cancel(*, subscription: StripeSubscription) -> StripeSubscription:
    """Ends the Stripe subscription of a cancelled entitlement, invoicing its usage so far."""
    if subscription.status == "canceled":
        return subscription
    client = require_client()
    try:
        sub = client.v1.subscriptions.cancel(subscription.stripe_id, {"invoice_now": True},
                                             _opts(f"modelbay-cancel-{subscription.stripe_id}"))
        status = sub.status
    except Exception as exc:  # already cancelled elsewhere: take Stripe's current state
        log.info("cancel of %s answered %s; re-reading it", subscription.stripe_id, type(exc).__name__)
        status = client.v1.subscriptions.retrieve(subscription.stripe_id).status
    StripeSubscription.objects.filter(pk=subscription.pk).update(status=status)
    subscription.status = status
    return subscription
