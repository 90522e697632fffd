"""Invoices: Stripe's mirrored (always re-read from Stripe, so event order does not matter)
and, in local-ledger mode, computed from the usage ledger and the plans.

Both paths bill a usage line as quantity x unit price rounded half-up once per line (see
billing.selectors.quantities), so the same usage costs the same on either path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import Organization
from billing import pricing
from billing.models import Invoice, InvoiceLine, StripeCustomer, StripePrice
from billing.selectors.quantities import line_amount, plan_quantities
from billing.stripe_client import require_client
from marketplace.models import Entitlement, Plan


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def invoice_charge_id(*, stripe_invoice_id: str) -> str:
    """The succeeded charge that paid an invoice (through its invoice payments)."""
    client = require_client()
    for payment in client.v1.invoice_payments.list({"invoice": stripe_invoice_id}).auto_paging_iter():
        paid_with = payment.to_dict().get("payment") or {}
        if payment.status == "paid" and paid_with.get("payment_intent"):
            intent = client.v1.payment_intents.retrieve(paid_with["payment_intent"])
            if intent.latest_charge:
                return intent.latest_charge if isinstance(intent.latest_charge, str) else intent.latest_charge.id
    return ""


def _line_from_stripe(line: dict[str, Any], prices: dict[str, tuple[Plan, str]]) -> dict[str, Any]:
    pricing = line.get("pricing") or {}
    price_id = (pricing.get("price_details") or {}).get("price", "")
    plan, kind = prices.get(price_id, (None, InvoiceLine.Kind.OTHER))
    quantity = line.get("quantity_decimal") or line.get("quantity") or 0
    return {"model_id": plan.model_id if plan else None, "plan": plan, "kind": kind,
            "description": (line.get("description") or "")[:300], "quantity": Decimal(str(quantity)),
            "unit_amount_decimal": Decimal(str(pricing.get("unit_amount_decimal") or 0)),
            "amount_minor": line["amount"], "stripe_line_id": line["id"]}


def invoice_mirror(*, stripe_invoice_id: str) -> Invoice | None:
    """Re-reads the invoice from Stripe and stores its current state; None if not our customer.
    Stripe is read first and the rows written after, so no transaction waits on the network."""
    client = require_client()
    data = client.v1.invoices.retrieve(stripe_invoice_id)
    customer = StripeCustomer.objects.filter(stripe_id=data.customer).select_related("organization").first()
    if customer is None:
        return None
    charge_id = invoice_charge_id(stripe_invoice_id=data.id) if data.status == "paid" else ""
    remote_lines = [line.to_dict() for line in
                    client.v1.invoices.line_items.list(data.id, {"limit": 100}).auto_paging_iter()]
    values = {
        "organization": customer.organization, "source": Invoice.Source.STRIPE, "number": data.number or "",
        "status": data.status, "currency": data.currency, "period_start": _ts(data.period_start),
        "period_end": _ts(data.period_end), "subtotal_minor": data.subtotal, "total_minor": data.total,
        "amount_due_minor": data.amount_due, "amount_paid_minor": data.amount_paid,
        "hosted_url": data.hosted_invoice_url or "",
    }
    if charge_id:
        values["charge_id"] = charge_id
    prices: dict[str, tuple[Plan, str]] = {}
    for row in StripePrice.objects.select_related("plan"):
        prices[row.price_id] = (row.plan, InvoiceLine.Kind.USAGE)
        if row.fee_price_id:
            prices[row.fee_price_id] = (row.plan, InvoiceLine.Kind.FEE)
    lines = [_line_from_stripe(line, prices) for line in remote_lines]
    return _invoice_store(stripe_id=data.id, values=values, lines=lines)


@transaction.atomic
def _invoice_store(*, stripe_id: str, values: dict[str, Any], lines: list[dict[str, Any]]) -> Invoice:
    try:
        with transaction.atomic():
            invoice, _ = Invoice.objects.update_or_create(stripe_id=stripe_id, defaults=values)
    except IntegrityError:  # created concurrently by another event of the same invoice
        invoice = Invoice.objects.get(stripe_id=stripe_id)
        Invoice.objects.filter(pk=invoice.pk).update(**values)
        invoice.refresh_from_db()
    invoice.lines.all().delete()  # Stripe's lines are the truth; ours are a copy
    InvoiceLine.objects.bulk_create([InvoiceLine(invoice=invoice, **line) for line in lines])
    return invoice


# -- local-ledger mode -----------------------------------------------------------------------

def local_invoice_lines(*, organization: Organization, period_start: datetime, period_end: datetime
                        ) -> list[dict[str, Any]]:
    """The lines Stripe would bill for this usage: per plan dimension's quantity, plus monthly fees."""
    lines = []
    for row in plan_quantities(since=period_start, until=period_end, organization=organization):
        plan, dimension, quantity = row["plan"], row["dimension"], row["quantity"]
        price = pricing.unit_price(plan, dimension)
        lines.append({"model_id": plan.model_id, "plan": plan, "kind": InvoiceLine.Kind.USAGE,
                      "description": _usage_description(plan, dimension, quantity), "quantity": quantity,
                      "unit_amount_decimal": price,
                      "amount_minor": line_amount(quantity=quantity, unit_price_minor=price),
                      "currency": plan.currency.lower()})
    fees = (Entitlement.objects.filter(organization=organization, plan__kind=Plan.Kind.SUBSCRIPTION,
                                       plan__monthly_fee_minor__gt=0, created_at__lt=period_end)
            .exclude(cancelled_at__lt=period_start).select_related("plan__model__organization"))
    for entitlement in fees:
        plan = entitlement.plan
        lines.append({"model_id": plan.model_id, "plan": plan, "kind": InvoiceLine.Kind.FEE,
                      "description": f"{plan.model.full_name} {plan.name} monthly fee", "quantity": Decimal(1),
                      "unit_amount_decimal": Decimal(plan.monthly_fee_minor), "amount_minor": plan.monthly_fee_minor,
                      "currency": plan.currency.lower()})
    return lines


def _usage_description(plan: Plan, dimension: str, quantity: Decimal) -> str:
    name = f"{plan.model.full_name} {plan.name}"
    if dimension == pricing.DEFAULT:
        return f"{quantity.normalize():f} x {name} ({plan.unit})"
    per_million = pricing.unit_price(plan, dimension) * pricing.MILLION
    what = dimension.replace("_", " ")  # "input tokens"
    return (f"{int(quantity):,} {what} x {name} (at {per_million.normalize():f} {plan.currency.lower()} "
            f"cents per 1M {what})")


@transaction.atomic
def local_invoice_issue(*, organization: Organization, period_start: datetime, period_end: datetime
                        ) -> list[Invoice]:
    """One local invoice per currency for the period (once: a second call returns the first)."""
    from billing.services.payouts import earnings_record

    by_currency: dict[str, list[dict[str, Any]]] = {}
    for line in local_invoice_lines(organization=organization, period_start=period_start, period_end=period_end):
        by_currency.setdefault(line.pop("currency"), []).append(line)
    issued = []
    for currency, lines in sorted(by_currency.items()):
        total = sum(line["amount_minor"] for line in lines)
        invoice, created = Invoice.objects.get_or_create(
            organization=organization, source=Invoice.Source.LOCAL, currency=currency,
            period_start=period_start, period_end=period_end,
            defaults={"status": Invoice.Status.OPEN, "subtotal_minor": total, "total_minor": total,
                      "amount_due_minor": total, "number": f"LOCAL-{organization.slug}-{period_start:%Y%m%d}"})
        if created:
            InvoiceLine.objects.bulk_create([InvoiceLine(invoice=invoice, **line) for line in lines])
            earnings_record(invoice=invoice)
        issued.append(invoice)
    return issued


def local_invoices_close(*, period_start: datetime, period_end: datetime) -> int:
    """Beat (monthly, local-ledger mode only): invoices every buyer with usage or fees."""
    from billing.models import UsageEvent

    orgs = set(UsageEvent.objects.filter(created_at__gte=period_start, created_at__lt=period_end)
               .values_list("organization_id", flat=True).distinct().order_by())
    orgs |= set(Entitlement.objects.filter(plan__kind=Plan.Kind.SUBSCRIPTION, created_at__lt=period_end)
                .exclude(cancelled_at__lt=period_start).values_list("organization_id", flat=True))
    count = 0
    for organization in Organization.objects.filter(pk__in=orgs):
        count += len(local_invoice_issue(organization=organization, period_start=period_start,
                                         period_end=period_end))
    return count
