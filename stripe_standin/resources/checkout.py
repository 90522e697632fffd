"""Checkout sessions, setup intents and payment methods.

A session's `url` points at the stand-in (`{base}/checkout/{id}`), whose page has one
button; pressing it (or `POST /_standin/checkout/{id}/complete`) completes the session:
a card payment method is created for the customer, then a setup intent (mode=setup),
a subscription (mode=subscription) or a paid payment intent (mode=payment), and
`checkout.session.completed` fires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import StripeError, invalid, missing_param
from ..fixtures import template
from ..forms import as_int, as_list, require
from ..store import new_id, paginate
from . import subscriptions
from .common import Req, Route, apply_metadata

if TYPE_CHECKING:
    from ..standin import StripeStandin


def _secret(object_id: str) -> str:
    return f"{object_id}_secret_{new_id('x')[2:]}"


def create_payment_method_object(app: StripeStandin, customer_id: str | None, email: str | None) -> dict[str, Any]:
    pm = template("payment_method", id=new_id("pm"), created=app.store.now(), customer=customer_id, metadata={},
                  allow_redisplay="always")
    pm["billing_details"] = {"address": {k: None for k in pm["billing_details"]["address"]},
                             "email": email, "name": None, "phone": None, "tax_id": None}
    pm["card"]["wallet"] = None
    return app.store.add(pm)


def create_setup_intent_object(app: StripeStandin, params: dict[str, Any]) -> dict[str, Any]:
    customer = params.get("customer") or None
    if customer:
        app.store.ref("customer", customer, "customer")
    seti = template(
        "setup_intent", id=new_id("seti"), created=app.store.now(), customer=customer, metadata={},
        automatic_payment_methods=None, last_setup_error=None, next_action=None,
        payment_method_configuration_details=None, payment_method_options=None,
        payment_method_types=as_list(params.get("payment_method_types")) or ["card"],
        usage=params.get("usage") or "off_session", description=params.get("description") or None,
        status="requires_payment_method", payment_method=None,
    )
    seti["client_secret"] = _secret(seti["id"])
    apply_metadata(seti, params)
    if params.get("payment_method"):
        app.store.ref("payment_method", params["payment_method"], "payment_method")
        seti.update(payment_method=params["payment_method"], status="requires_confirmation")
    app.store.add(seti)
    app.emit("setup_intent.created", seti)
    return seti


def _succeed_setup_intent(app: StripeStandin, seti: dict[str, Any], pm_id: str) -> None:
    seti.update(payment_method=pm_id, status="succeeded", latest_attempt=new_id("setatt"))
    app.store.touch()
    app.emit("setup_intent.succeeded", seti)


# -- setup intents -----------------------------------------------------------
def create_setup_intent(app: StripeStandin, req: Req) -> dict[str, Any]:
    seti = create_setup_intent_object(app, req.params)
    if req.params.get("confirm") == "true" and seti["payment_method"]:
        _succeed_setup_intent(app, seti, seti["payment_method"])
    return seti


def confirm_setup_intent(app: StripeStandin, req: Req) -> dict[str, Any]:
    seti = app.store.get("setup_intent", req.args["id"])
    pm = req.params.get("payment_method") or seti["payment_method"]
    if not pm:
        raise missing_param("payment_method")
    app.store.ref("payment_method", pm, "payment_method")
    _succeed_setup_intent(app, seti, pm)
    return seti


# -- payment methods ---------------------------------------------------------
def list_payment_methods(app: StripeStandin, req: Req) -> dict[str, Any]:
    customer = req.args.get("id") or req.params.get("customer")
    if req.args.get("id"):
        app.store.get("customer", customer)
    items = app.store.all("payment_method", lambda pm: pm["customer"] == customer)
    return paginate(items, req.params, f"/v1/customers/{customer}/payment_methods")


def attach_payment_method(app: StripeStandin, req: Req) -> dict[str, Any]:
    pm = app.store.get("payment_method", req.args["id"])
    pm["customer"] = app.store.ref("customer", require(req.params, "customer"), "customer")["id"]
    app.store.touch()
    app.emit("payment_method.attached", pm)
    return pm


# -- checkout sessions -------------------------------------------------------
def create_session(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params
    mode = require(p, "mode")
    if mode not in ("payment", "setup", "subscription"):
        raise invalid("mode", "Invalid mode: must be one of payment, setup, or subscription")
    customer = p.get("customer") or None
    if customer:
        app.store.ref("customer", customer, "customer")
    if not p.get("success_url") and p.get("ui_mode") not in ("embedded", "custom"):
        raise missing_param("success_url")
    line_items = as_list(p.get("line_items"))
    if mode in ("payment", "subscription") and not line_items:
        raise StripeError("`line_items` is required in `payment` and `subscription` mode.", param="line_items",
                          code="parameter_missing")
    prices = []
    for i, li in enumerate(line_items):
        price = app.store.ref("price", li.get("price"), f"line_items[{i}][price]")
        if mode == "subscription" and not price.get("recurring"):
            raise StripeError("You must specify at least one recurring price in `subscription` mode.",
                              param=f"line_items[{i}][price]")
        prices.append((price, as_int(li, "quantity", 1)))
    amount = sum(price["unit_amount"] * (q or 1) for price, q in prices
                 if (price.get("recurring") or {}).get("usage_type") != "metered" and price["unit_amount"])
    now = app.store.now()
    session_id = new_id("cs_test", 58)
    session = template(
        "checkout.session", id=session_id, created=now, expires_at=now + 24 * 3600, mode=mode, customer=customer,
        customer_email=p.get("customer_email") or None, success_url=p.get("success_url"),
        cancel_url=p.get("cancel_url") or None, client_reference_id=p.get("client_reference_id") or None,
        currency=(prices[0][0]["currency"] if prices else p.get("currency")) or None,
        amount_subtotal=amount if prices else None, amount_total=amount if prices else None,
        after_expiration=None, automatic_tax={"enabled": False, "liability": None, "status": None,
                                              "provider": None},
        consent=None, consent_collection=None, custom_text={"after_submit": None, "shipping_address": None,
                                                            "submit": None, "terms_of_service_acceptance": None},
        customer_creation="always" if not customer and mode != "setup" else None, customer_details=None,
        invoice=None, invoice_creation=None, payment_intent=None, payment_method_configuration_details=None,
        payment_method_types=as_list(p.get("payment_method_types")) or ["card"],
        payment_status="no_payment_required" if mode == "setup" else "unpaid",
        shipping_address_collection=None, shipping_cost=None, subscription=None, setup_intent=None,
        total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        ui_mode=p.get("ui_mode") or "hosted", url=f"{app.base_url}/checkout/{session_id}",
        adaptive_pricing=None, collected_information=None, permissions=None, wallet_options=None,
        currency_conversion=None, managed_payments=None, status="open", metadata={},
    )
    apply_metadata(session, p)
    if mode == "setup":
        seti = create_setup_intent_object(app, {"customer": customer, "usage": "off_session",
                                                "metadata": p.get("setup_intent_data", {}).get("metadata")
                                                if isinstance(p.get("setup_intent_data"), dict) else None})
        session["setup_intent"] = seti["id"]
    app.store.tables.setdefault("checkout_params", {})[session_id] = {
        "line_items": [{"price": pr["id"], **({"quantity": str(q)} if pr["recurring"] and
                        pr["recurring"]["usage_type"] == "licensed" else {})} for pr, q in prices],
        "subscription_data": p.get("subscription_data") if isinstance(p.get("subscription_data"), dict) else {},
    }
    app.store.add(session)
    return session


def complete_session(app: StripeStandin, session: dict[str, Any], email: str | None = None) -> dict[str, Any]:
    """What pressing the button on the hosted page does."""
    if session["status"] != "open":
        raise StripeError(f"This Checkout Session is {session['status']} and cannot be completed.",
                          code="checkout_session_not_open" if session["status"] else None)
    from .catalog import create_customer

    email = email or session["customer_email"] or "buyer@example.com"
    customer_id = session["customer"]
    if customer_id is None and session["mode"] != "setup":
        customer_id = create_customer(app, Req("POST", "/v1/customers", {"email": email}))["id"]
        session["customer"] = customer_id
    customer = app.store.find("customer", customer_id) if customer_id else None
    pm = create_payment_method_object(app, customer_id, email)
    extra = app.store.tables.get("checkout_params", {}).get(session["id"], {})
    if session["mode"] == "setup":
        seti = app.store.get("setup_intent", session["setup_intent"])
        _succeed_setup_intent(app, seti, pm["id"])
    elif session["mode"] == "subscription":
        assert customer is not None
        data = extra.get("subscription_data") or {}
        params = {"customer": customer_id, "items": extra["line_items"], "default_payment_method": pm["id"],
                  "metadata": data.get("metadata") or {}}
        sub = subscriptions.create_subscription_object(app, customer, params)
        session["subscription"] = sub["id"]
        session["invoice"] = sub["latest_invoice"]
        session["payment_status"] = "paid"
    else:
        from .payments import create_charge  # a payment-mode session is a one-off charge

        fake_invoice = {"id": "none", "number": session["id"], "amount_due": session["amount_total"],
                        "currency": session["currency"], "customer": customer_id, "attempt_count": 0,
                        "default_payment_method": pm["id"]}
        charge = create_charge(app, fake_invoice, succeeded=True)
        session["payment_intent"] = charge["payment_intent"]
        session["payment_status"] = "paid"
    session["status"] = "complete"
    session["customer_details"] = {"address": None, "email": email, "name": customer and customer.get("name"),
                                   "phone": None, "tax_exempt": "none", "tax_ids": [], "business_name": None,
                                   "individual_name": None}
    app.store.touch()
    app.emit("checkout.session.completed", session)
    return session


def retrieve_session(app: StripeStandin, req: Req) -> dict[str, Any]:
    return app.store.get("checkout.session", req.args["id"])


def expire_session(app: StripeStandin, req: Req) -> dict[str, Any]:
    session = app.store.get("checkout.session", req.args["id"])
    if session["status"] != "open":
        raise StripeError("Only Checkout Sessions with a status in [\"open\"] can be expired.")
    session["status"] = "expired"
    app.store.touch()
    app.emit("checkout.session.expired", session)
    return session


def list_sessions(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params

    def keep(s: dict[str, Any]) -> bool:
        return all(not p.get(k) or s[k] == p[k] for k in ("customer", "subscription", "status"))

    return paginate(app.store.all("checkout.session", keep), p, "/v1/checkout/sessions")


ROUTES: list[Route] = [
    ("POST", r"/v1/checkout/sessions", create_session),
    ("GET", r"/v1/checkout/sessions", list_sessions),
    ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", retrieve_session),
    ("POST", r"/v1/checkout/sessions/(?P<id>[^/]+)/expire", expire_session),
    ("POST", r"/v1/setup_intents", create_setup_intent),
    ("GET", r"/v1/setup_intents/(?P<id>[^/]+)", lambda app, req: app.store.get("setup_intent", req.args["id"])),
    ("POST", r"/v1/setup_intents/(?P<id>[^/]+)/confirm", confirm_setup_intent),
    ("GET", r"/v1/payment_methods", list_payment_methods),
    ("GET", r"/v1/payment_methods/(?P<pm>[^/]+)", lambda app, req: app.store.get("payment_method", req.args["pm"])),
    ("POST", r"/v1/payment_methods/(?P<id>[^/]+)/attach", attach_payment_method),
    ("GET", r"/v1/customers/(?P<id>[^/]+)/payment_methods", list_payment_methods),
]
