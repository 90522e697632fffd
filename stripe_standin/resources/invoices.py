"""Invoices: usage lines from meter summaries, create, finalize, void, list.

Stand-in extension: `POST /v1/invoices` with `subscription` bills the usage of the
subscription's metered items over each item's current period (real Stripe only does
that on the cycle invoice; here the clock advance produces those too, see standin.py).
Line amount = aggregated usage x unit_amount_decimal, rounded half-up to whole cents.
Paying is in payments.py.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from ..errors import StripeError
from ..fixtures import template
from ..forms import as_bool, as_int, as_list, require
from ..store import new_id, paginate
from .common import Req, Route, apply_metadata
from .metering import aggregate

if TYPE_CHECKING:
    from ..standin import StripeStandin


def _money(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _line(invoice_id: str, price: dict[str, Any], quantity: Decimal, start: int, end: int,
          subscription: dict[str, Any] | None, item: dict[str, Any] | None, product_name: str) -> dict[str, Any]:
    unit = Decimal(price["unit_amount_decimal"])
    amount = _money(quantity * unit)
    whole = quantity == quantity.to_integral_value()
    line = template(
        "line_item", id=new_id("il"), invoice=invoice_id, amount=amount, subtotal=amount,
        currency=price["currency"], description=f"{quantity.normalize():f} × {product_name} "
                                                f"(at {unit.normalize():f} {price['currency']} cents / unit)",
        period={"start": start, "end": end}, quantity=int(quantity) if whole else None,
        quantity_decimal=format(quantity.normalize(), "f"), metadata={}, discount_amounts=[], discounts=[],
        subscription=subscription["id"] if subscription else None, pretax_credit_amounts=[], taxes=[],
        pricing={"type": "price_details", "price_details": {"price": price["id"], "product": price["product"]},
                 "unit_amount_decimal": price["unit_amount_decimal"]},
        parent=None,
    )
    if subscription and item:
        line["parent"] = {"type": "subscription_item_details", "invoice_item_details": None,
                          "subscription_item_details": {"invoice_item": None, "proration": False,
                                                        "proration_details": {"credited_items": None},
                                                        "subscription": subscription["id"],
                                                        "subscription_item": item["id"]}}
    return line


def subscription_lines(app: StripeStandin, invoice_id: str, sub: dict[str, Any], *, metered: bool,
                       licensed: bool, period: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    lines = []
    for item in sub["items"]["data"]:
        price = item["price"]
        start, end = period or (item["current_period_start"], item["current_period_end"])
        product = app.store.find("product", price["product"]) or {"name": price["product"]}
        usage_type = (price.get("recurring") or {}).get("usage_type", "licensed")
        if usage_type == "metered" and metered:
            meter = app.store.get("billing.meter", price["recurring"]["meter"])
            quantity = aggregate(app.store, meter, sub["customer"], start, end)
            lines.append(_line(invoice_id, price, quantity, start, end, sub, item, product["name"]))
        elif usage_type == "licensed" and licensed:
            quantity = Decimal(item.get("quantity") or 1)
            lines.append(_line(invoice_id, price, quantity, start, end, sub, item, product["name"]))
    return lines


def create_invoice_object(app: StripeStandin, customer: dict[str, Any], *, subscription: dict[str, Any] | None,
                          billing_reason: str, lines: list[dict[str, Any]] | None = None,
                          period: tuple[int, int] | None = None, params: dict[str, Any] | None = None,
                          ) -> dict[str, Any]:
    params = params or {}
    now = app.store.now()
    invoice_id = new_id("in")
    if lines is None:
        lines = subscription_lines(app, invoice_id, subscription, metered=True, licensed=False) if subscription else []
    for line in lines:
        line["invoice"] = invoice_id
    total = sum(line["amount"] for line in lines)
    starts = [line["period"]["start"] for line in lines] or [now]
    ends = [line["period"]["end"] for line in lines] or [now]
    period_start, period_end = period or (min(starts), max(ends))
    collection = params.get("collection_method") or (subscription or {}).get("collection_method") \
        or "charge_automatically"
    invoice = template(
        "invoice", id=invoice_id, created=now, customer=customer["id"], currency=lines[0]["currency"]
        if lines else (params.get("currency") or customer.get("currency") or "usd"),
        account_name="Modelbay (Stripe stand-in)", amount_due=total, amount_paid=0, amount_remaining=total,
        amount_overpaid=0, subtotal=total, subtotal_excluding_tax=total, total=total, total_excluding_tax=total,
        attempt_count=0, attempted=False, auto_advance=as_bool(params, "auto_advance", False),
        automatic_tax={"enabled": False, "liability": None, "status": None, "disabled_reason": None,
                       "provider": None},
        billing_reason=billing_reason, collection_method=collection, customer_address=customer.get("address"),
        customer_email=customer.get("email"), customer_name=customer.get("name"),
        customer_phone=customer.get("phone"), customer_shipping=None, description=params.get("description"),
        due_date=None, effective_at=None, from_invoice=None, hosted_invoice_url=None, invoice_pdf=None,
        last_finalization_error=None, next_payment_attempt=None, number=None, metadata={},
        payment_settings={"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        period_start=period_start, period_end=period_end, shipping_cost=None, shipping_details=None,
        status="draft", status_transitions={"finalized_at": None, "marked_uncollectible_at": None,
                                            "paid_at": None, "voided_at": None},
        subscription=subscription["id"] if subscription else None, webhooks_delivered_at=None,
        total_taxes=[], total_pretax_credit_amounts=[], total_discount_amounts=[],
        default_payment_method=params.get("default_payment_method"),
        lines={"object": "list", "data": lines, "has_more": False, "url": f"/v1/invoices/{invoice_id}/lines"},
        parent={"type": "subscription_details", "quote_details": None,
                "subscription_details": {"metadata": dict(subscription["metadata"]),
                                         "subscription": subscription["id"]}} if subscription else None,
    )
    if collection == "send_invoice":
        invoice["due_date"] = now + 86400 * (as_int(params, "days_until_due", 30) or 30)
    apply_metadata(invoice, params)
    app.store.add(invoice)
    app.emit("invoice.created", invoice)
    return invoice


def finalize(app: StripeStandin, invoice: dict[str, Any]) -> dict[str, Any]:
    if invoice["status"] != "draft":
        raise StripeError("This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                          code="invoice_not_editable")
    now = app.store.now()
    customer = app.store.find("customer", invoice["customer"])
    if customer is not None:
        invoice["number"] = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        customer["next_invoice_sequence"] += 1
    invoice["status"] = "open"
    invoice["status_transitions"]["finalized_at"] = now
    invoice["effective_at"] = now
    invoice["hosted_invoice_url"] = f"{app.base_url}/invoices/{invoice['id']}"
    app.store.touch()
    app.emit("invoice.finalized", invoice, {"status": "draft"})
    if invoice["amount_due"] == 0:
        mark_paid(app, invoice)
    return invoice


def mark_paid(app: StripeStandin, invoice: dict[str, Any]) -> None:
    now = app.store.now()
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
    invoice["status_transitions"]["paid_at"] = now
    app.store.touch()
    app.emit("invoice.paid", invoice, {"status": "open"})
    app.emit("invoice.payment_succeeded", invoice)


def with_payments(app: StripeStandin, invoice: dict[str, Any], req: Req) -> dict[str, Any]:
    if "payments" in as_list(req.params.get("expand")):
        payments = app.store.all("invoice_payment", lambda p: p["invoice"] == invoice["id"])
        invoice = dict(invoice, payments=paginate(payments, {"limit": 100},
                                                  f"/v1/invoice_payments?invoice={invoice['id']}"))
    return invoice


# -- handlers ----------------------------------------------------------------
def create_invoice(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params
    customer = app.store.ref("customer", require(p, "customer"), "customer")
    sub = None
    if p.get("subscription"):
        sub = app.store.ref("subscription", p["subscription"], "subscription")
        if sub["customer"] != customer["id"]:
            raise StripeError("The subscription does not belong to this customer.", param="subscription")
    return create_invoice_object(app, customer, subscription=sub, billing_reason="manual", params=p)


def retrieve_invoice(app: StripeStandin, req: Req) -> dict[str, Any]:
    return with_payments(app, app.store.get("invoice", req.args["id"]), req)


def update_invoice(app: StripeStandin, req: Req) -> dict[str, Any]:
    invoice = app.store.get("invoice", req.args["id"])
    previous = {"metadata": dict(invoice["metadata"])}
    apply_metadata(invoice, req.params)
    if "auto_advance" in req.params:
        invoice["auto_advance"] = as_bool(req.params, "auto_advance")
    app.store.touch()
    app.emit("invoice.updated", invoice, previous)
    return invoice


def list_invoices(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params

    def keep(i: dict[str, Any]) -> bool:
        return all(not p.get(k) or i[k] == p[k] for k in ("customer", "subscription", "status"))

    return paginate(app.store.all("invoice", keep), p, "/v1/invoices")


def invoice_lines(app: StripeStandin, req: Req) -> dict[str, Any]:
    invoice = app.store.get("invoice", req.args["id"])
    return paginate(list(invoice["lines"]["data"]), req.params, invoice["lines"]["url"])


def finalize_invoice(app: StripeStandin, req: Req) -> dict[str, Any]:
    invoice = app.store.get("invoice", req.args["id"])
    if "auto_advance" in req.params:
        invoice["auto_advance"] = as_bool(req.params, "auto_advance")
    return with_payments(app, finalize(app, invoice), req)


def void_invoice(app: StripeStandin, req: Req) -> dict[str, Any]:
    invoice = app.store.get("invoice", req.args["id"])
    if invoice["status"] != "open":
        raise StripeError("You can only void an open invoice.", code="invoice_not_editable")
    invoice["status"] = "void"
    invoice["status_transitions"]["voided_at"] = app.store.now()
    app.store.touch()
    app.emit("invoice.voided", invoice, {"status": "open"})
    return invoice


ROUTES: list[Route] = [
    ("POST", r"/v1/invoices", create_invoice),
    ("GET", r"/v1/invoices", list_invoices),
    ("GET", r"/v1/invoices/(?P<id>[^/]+)", retrieve_invoice),
    ("POST", r"/v1/invoices/(?P<id>[^/]+)", update_invoice),
    ("GET", r"/v1/invoices/(?P<id>[^/]+)/lines", invoice_lines),
    ("POST", r"/v1/invoices/(?P<id>[^/]+)/finalize", finalize_invoice),
    ("POST", r"/v1/invoices/(?P<id>[^/]+)/void", void_invoice),
]
