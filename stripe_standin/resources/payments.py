"""Paying invoices: payment intents, `ch_` charges and invoice payments.

Paying creates a payment_intent and a charge, linked to the invoice through an
`invoice_payment` (expand `payments` on the invoice, or list /v1/invoice_payments):
the shape the current API exposes instead of the old `invoice.charge` field.
A test can make an invoice's payment fail (`StripeStandin.fail_invoice_payment`), and
optionally keep declining later `/pay` calls with a 402 card_error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import StripeError
from ..fixtures import template
from ..forms import as_bool
from ..store import new_id, paginate
from .common import Req, Route
from .invoices import finalize, mark_paid, with_payments

if TYPE_CHECKING:
    from ..standin import StripeStandin


def create_charge(app: StripeStandin, invoice: dict[str, Any], *, succeeded: bool) -> dict[str, Any]:
    now = app.store.now()
    customer = app.store.find("customer", invoice["customer"]) or {}
    pm = invoice.get("default_payment_method") or customer.get("invoice_settings", {}).get("default_payment_method")
    intent = template(
        "payment_intent", id=new_id("pi"), created=now, amount=invoice["amount_due"], currency=invoice["currency"],
        customer=invoice["customer"], amount_received=invoice["amount_due"] if succeeded else 0,
        amount_details=None, automatic_payment_methods=None, canceled_at=None, last_payment_error=None,
        next_action=None, payment_method=pm, payment_method_configuration_details=None, processing=None,
        shipping=None, transfer_data=None, status="succeeded" if succeeded else "requires_payment_method",
        description=f"Payment for Invoice {invoice['number']}", metadata={}, managed_payments=None,
    )
    intent["client_secret"] = f"{intent['id']}_secret_{new_id('x')[2:]}"
    charge = template(
        "charge", id=new_id("ch"), created=now, amount=invoice["amount_due"], currency=invoice["currency"],
        customer=invoice["customer"], amount_captured=invoice["amount_due"] if succeeded else 0,
        captured=succeeded, paid=succeeded, status="succeeded" if succeeded else "failed",
        payment_intent=intent["id"], payment_method=pm or "pm_card_visa", description=intent["description"],
        balance_transaction=new_id("txn") if succeeded else None, source=None, transfer_data=None,
        failure_code=None if succeeded else "card_declined",
        failure_message=None if succeeded else "Your card was declined.",
        billing_details=template("charge")["billing_details"] | {"name": customer.get("name")},
        receipt_url=None, metadata={}, transfer_group=None,
        outcome={"network_status": "approved_by_network" if succeeded else "declined_by_network",
                 "reason": None if succeeded else "generic_decline", "risk_level": "normal",
                 "seller_message": "Payment complete." if succeeded else "The bank did not return any further "
                 "details with this decline.", "type": "authorized" if succeeded else "issuer_declined",
                 "advice_code": None, "network_advice_code": None, "network_decline_code": None},
    )
    charge["refunds"]["url"] = f"/v1/charges/{charge['id']}/refunds"
    intent["latest_charge"] = charge["id"]
    if not succeeded:
        intent["last_payment_error"] = {"type": "card_error", "code": "card_declined",
                                        "decline_code": "generic_decline", "message": "Your card was declined.",
                                        "charge": charge["id"]}
    app.store.add(intent)
    app.store.add(charge)
    payment = template(
        "invoice_payment", id=new_id("inpay"), created=now, invoice=invoice["id"], currency=invoice["currency"],
        amount_requested=invoice["amount_due"], amount_paid=invoice["amount_due"] if succeeded else None,
        is_default=True, payment={"type": "payment_intent", "payment_intent": intent["id"]},
        status="paid" if succeeded else "open",
        status_transitions={"canceled_at": None, "paid_at": now if succeeded else None},
    )
    if invoice["id"] != "none":  # checkout payment mode charges without an invoice
        app.store.add(payment)
    invoice["attempt_count"] += 1
    invoice["attempted"] = True
    return charge


def pay(app: StripeStandin, invoice: dict[str, Any], *, out_of_band: bool = False) -> dict[str, Any]:
    if invoice["status"] == "draft":
        finalize(app, invoice)
        if invoice["status"] == "paid":  # a zero invoice is paid by finalizing it
            return invoice
    if invoice["status"] == "paid":
        raise StripeError("Invoice is already paid", code="invoice_already_paid" if not out_of_band else None)
    if invoice["status"] != "open":
        raise StripeError(f"You cannot pay an invoice with status {invoice['status']}.",
                          code="invoice_not_editable")
    if out_of_band:
        mark_paid(app, invoice)
        return invoice
    if app.store.tables.get("declines", {}).get(invoice["id"]):
        fail_payment(app, invoice)
        raise StripeError("Your card was declined.", status=402, type="card_error", code="card_declined",
                          extra={"decline_code": "generic_decline"})
    charge = create_charge(app, invoice, succeeded=True)
    app.emit("charge.succeeded", charge)
    mark_paid(app, invoice)
    return invoice


def fail_payment(app: StripeStandin, invoice: dict[str, Any]) -> dict[str, Any]:
    """One declined payment attempt: the invoice stays open and `invoice.payment_failed` fires."""
    if invoice["status"] == "draft":
        finalize(app, invoice)
    if invoice["status"] != "open":
        raise StripeError(f"Invoice {invoice['id']} is {invoice['status']}; only open invoices can fail.")
    charge = create_charge(app, invoice, succeeded=False)
    invoice["next_payment_attempt"] = app.store.now() + 3 * 86400
    app.store.touch()
    app.emit("charge.failed", charge)
    app.emit("invoice.payment_failed", invoice)
    return invoice


def pay_invoice(app: StripeStandin, req: Req) -> dict[str, Any]:
    invoice = app.store.get("invoice", req.args["id"])
    if req.params.get("payment_method"):
        app.store.ref("payment_method", req.params["payment_method"], "payment_method")
        invoice["default_payment_method"] = req.params["payment_method"]
    return with_payments(app, pay(app, invoice, out_of_band=as_bool(req.params, "paid_out_of_band")), req)


def list_invoice_payments(app: StripeStandin, req: Req) -> dict[str, Any]:
    invoice = req.params.get("invoice")
    items = app.store.all("invoice_payment", lambda p: not invoice or p["invoice"] == invoice)
    return paginate(items, req.params, "/v1/invoice_payments")


def _retrieve(kind: str):
    return lambda app, req: app.store.get(kind, req.args["id"])


def list_charges(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params

    def keep(c: dict[str, Any]) -> bool:
        return all(not p.get(k) or c[k] == p[k] for k in ("customer", "payment_intent", "transfer_group"))

    return paginate(app.store.all("charge", keep), p, "/v1/charges")


ROUTES: list[Route] = [
    ("POST", r"/v1/invoices/(?P<id>[^/]+)/pay", pay_invoice),
    ("GET", r"/v1/invoice_payments", list_invoice_payments),
    ("GET", r"/v1/invoice_payments/(?P<id>[^/]+)", _retrieve("invoice_payment")),
    ("GET", r"/v1/charges", list_charges),
    ("GET", r"/v1/charges/(?P<id>[^/]+)", _retrieve("charge")),
    ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", _retrieve("payment_intent")),
]
