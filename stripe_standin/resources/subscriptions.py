"""Subscriptions: create (with a first invoice, as Stripe does), update, cancel, list.

Billing periods live on the subscription items (`current_period_start/end`), as in the
current API. Advancing the stand-in clock past a period end bills it: see
`bill_due_periods`, which the clock control calls.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..errors import StripeError, missing_param
from ..fixtures import template
from ..forms import as_bool, as_int, as_list, require
from ..store import new_id, paginate
from . import invoices, payments
from .common import Req, Route, add_interval, apply_metadata

if TYPE_CHECKING:
    from ..standin import StripeStandin


def plan_for(price: dict[str, Any]) -> dict[str, Any]:
    recurring = price.get("recurring") or {}
    return {
        "active": price["active"], "amount": price["unit_amount"], "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"], "created": price["created"], "currency": price["currency"],
        "id": price["id"], "interval": recurring.get("interval"), "interval_count": recurring.get("interval_count"),
        "livemode": False, "metadata": dict(price["metadata"]), "meter": recurring.get("meter"),
        "nickname": price["nickname"], "object": "plan", "product": price["product"], "tiers_mode": None,
        "transform_usage": None, "trial_period_days": None, "usage_type": recurring.get("usage_type"),
    }


def _item(app: StripeStandin, sub_id: str, spec: dict[str, Any], param: str, start: int) -> dict[str, Any]:
    if not spec.get("price"):
        raise missing_param(f"{param}[price]")
    price = app.store.ref("price", spec["price"], f"{param}[price]")
    recurring = price.get("recurring")
    if not recurring:
        raise StripeError("The price specified is set to `type=one_time` but this field only accepts prices "
                          "with `type=recurring`.", param=f"{param}[price]")
    metered = recurring["usage_type"] == "metered"
    if metered and spec.get("quantity"):
        raise StripeError("Quantity should not be specified where usage_type is `metered`. Remove quantity "
                          "from the params.", param=f"{param}[quantity]")
    item = template(
        "subscription_item", id=new_id("si", 14), created=start, subscription=sub_id, metadata={},
        price=copy.deepcopy(price), plan=plan_for(price), billing_thresholds=None, discounts=[], tax_rates=[],
        quantity=None if metered else as_int(spec, "quantity", 1),
        current_period_start=start, current_period_end=add_interval(start, recurring["interval"],
                                                                   recurring["interval_count"]),
    )
    apply_metadata(item, spec)
    return item


def create_subscription_object(app: StripeStandin, customer: dict[str, Any], params: dict[str, Any]
                               ) -> dict[str, Any]:
    items_spec = as_list(params.get("items"))
    if not items_spec:
        raise missing_param("items")
    now = app.store.now()
    sub_id = new_id("sub")
    items = [_item(app, sub_id, spec, f"items[{i}]", now) for i, spec in enumerate(items_spec)]
    currencies = {i["price"]["currency"] for i in items}
    if len(currencies) > 1:
        raise StripeError("All prices on a subscription must have the same currency.", param="items")
    pm = params.get("default_payment_method") or None
    if pm:
        app.store.ref("payment_method", pm, "default_payment_method")
    transfer = params.get("transfer_data") or None
    sub = template(
        "subscription", id=sub_id, created=now, start_date=now, billing_cycle_anchor=now, customer=customer["id"],
        currency=currencies.pop(), status="active", metadata={}, application=None,
        automatic_tax={"enabled": False, "liability": None, "disabled_reason": None},
        billing_cycle_anchor_config=None, cancel_at=None, canceled_at=None, ended_at=None,
        cancel_at_period_end=as_bool(params, "cancel_at_period_end", False),
        cancellation_details={"comment": None, "feedback": None, "reason": None},
        collection_method=params.get("collection_method") or "charge_automatically",
        days_until_due=as_int(params, "days_until_due"), default_payment_method=pm, description=
        params.get("description") or None, latest_invoice=None, next_pending_invoice_item_invoice=None,
        pause_collection=None, pending_invoice_item_interval=None, pending_update=None, trial_end=None,
        trial_start=None, billing_thresholds=None, billing_schedules=[], managed_payments=None,
        payment_settings={"payment_method_options": None, "payment_method_types": None,
                          "save_default_payment_method": "off"},
        transfer_data={"amount_percent": transfer.get("amount_percent"), "destination": transfer["destination"]}
        if transfer else None,
        items={"object": "list", "data": items, "has_more": False,
               "url": f"/v1/subscription_items?subscription={sub_id}", "total_count": len(items)},
    )
    sub["items"].pop("total_count")
    apply_metadata(sub, params)
    app.store.add(sub)
    for item in items:
        app.store.kind_of[item["id"]] = "subscription_item"
    app.emit("customer.subscription.created", sub)
    # Stripe opens every subscription with an invoice for the licensed items (metered
    # usage is billed in arrears, so a metered-only subscription starts with a 0 invoice).
    first_id_lines = invoices.subscription_lines(app, "pending", sub, metered=False, licensed=True)
    invoice = invoices.create_invoice_object(app, customer, subscription=sub, billing_reason="subscription_create",
                                             lines=first_id_lines, period=(now, now))
    sub["latest_invoice"] = invoice["id"]
    if sub["collection_method"] == "charge_automatically":
        payments.pay(app, invoice)
    else:
        invoices.finalize(app, invoice)
    return sub


def create_subscription(app: StripeStandin, req: Req) -> dict[str, Any]:
    customer = app.store.ref("customer", require(req.params, "customer"), "customer")
    return create_subscription_object(app, customer, req.params)


def retrieve_subscription(app: StripeStandin, req: Req) -> dict[str, Any]:
    return app.store.get("subscription", req.args["id"])


def update_subscription(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params
    sub = app.store.get("subscription", req.args["id"])
    if sub["status"] == "canceled":
        raise StripeError("A canceled subscription can only update its cancellation_details and metadata.",
                          param=None)
    previous: dict[str, Any] = {}
    if "metadata" in p:
        previous["metadata"] = dict(sub["metadata"])
        apply_metadata(sub, p)
    if "cancel_at_period_end" in p:
        previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
        sub["cancel_at_period_end"] = as_bool(p, "cancel_at_period_end")
        ends = [i["current_period_end"] for i in sub["items"]["data"]]
        sub["cancel_at"] = max(ends) if sub["cancel_at_period_end"] else None
    if "default_payment_method" in p:
        pm = p["default_payment_method"] or None
        if pm:
            app.store.ref("payment_method", pm, "default_payment_method")
        previous["default_payment_method"] = sub["default_payment_method"]
        sub["default_payment_method"] = pm
    if "items" in p:
        previous["items"] = copy.deepcopy(sub["items"])
        now = app.store.now()
        for i, spec in enumerate(as_list(p["items"])):
            existing = next((it for it in sub["items"]["data"] if it["id"] == spec.get("id")), None)
            if spec.get("id") and existing is None:
                raise StripeError(f"No such subscription item: '{spec['id']}'", param=f"items[{i}][id]",
                                  code="resource_missing")
            if existing and as_bool(spec, "deleted"):
                sub["items"]["data"].remove(existing)
            elif existing:
                if spec.get("price"):
                    fresh = _item(app, sub["id"], spec, f"items[{i}]", existing["current_period_start"])
                    existing.update(price=fresh["price"], plan=fresh["plan"], quantity=fresh["quantity"])
                elif spec.get("quantity"):
                    existing["quantity"] = as_int(spec, "quantity")
                apply_metadata(existing, spec)
            else:
                item = _item(app, sub["id"], spec, f"items[{i}]", now)
                sub["items"]["data"].append(item)
                app.store.kind_of[item["id"]] = "subscription_item"
    app.store.touch()
    app.emit("customer.subscription.updated", sub, previous)
    return sub


def cancel(app: StripeStandin, sub: dict[str, Any], *, invoice_now: bool = False) -> dict[str, Any]:
    if sub["status"] == "canceled":
        raise StripeError(f"No such subscription: '{sub['id']}'", status=404, code="resource_missing")
    now = app.store.now()
    if invoice_now:
        customer = app.store.get("customer", sub["customer"])
        lines = [line for line in invoices.subscription_lines(app, "pending", sub, metered=True, licensed=False)]
        for line in lines:
            line["period"]["end"] = now
        invoice = invoices.create_invoice_object(app, customer, subscription=sub, billing_reason="subscription_cycle",
                                                 lines=lines)
        sub["latest_invoice"] = invoice["id"]
        invoices.finalize(app, invoice)
    sub.update(status="canceled", canceled_at=now, ended_at=now)
    sub["cancellation_details"]["reason"] = "cancellation_requested"
    app.store.touch()
    app.emit("customer.subscription.deleted", sub, {"status": "active"})
    return sub


def cancel_subscription(app: StripeStandin, req: Req) -> dict[str, Any]:
    sub = app.store.get("subscription", req.args["id"])
    return cancel(app, sub, invoice_now=as_bool(req.params, "invoice_now"))


def list_subscriptions(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params
    status = p.get("status")

    def keep(s: dict[str, Any]) -> bool:
        if p.get("customer") and s["customer"] != p["customer"]:
            return False
        if p.get("price") and all(i["price"]["id"] != p["price"] for i in s["items"]["data"]):
            return False
        if status == "all":
            return True
        return s["status"] == status if status else s["status"] != "canceled"

    return paginate(app.store.all("subscription", keep), p, "/v1/subscriptions")


def bill_due_periods(app: StripeStandin) -> list[str]:
    """Close every subscription period that ended by the current clock: one cycle invoice each,
    finalized and charged (Stripe waits about an hour before finalizing; the stand-in doesn't)."""
    now = app.store.now()
    created = []
    for sub in reversed(app.store.all("subscription", lambda s: s["status"] in ("active", "past_due"))):
        while True:
            ends = [i["current_period_end"] for i in sub["items"]["data"]]
            if not ends or min(ends) > now:
                break
            period_end = min(ends)
            customer = app.store.get("customer", sub["customer"])
            due = [i for i in sub["items"]["data"] if i["current_period_end"] == period_end]
            lines = []
            for item in due:
                one = dict(sub, items={"data": [item]})
                lines += invoices.subscription_lines(app, "pending", one, metered=True, licensed=False)
            for item in due:  # roll the period, then bill licensed items in advance for the new one
                interval = item["price"]["recurring"]
                item["current_period_start"] = period_end
                item["current_period_end"] = add_interval(period_end, interval["interval"],
                                                          interval["interval_count"])
            for item in due if not sub["cancel_at_period_end"] else []:
                one = dict(sub, items={"data": [item]})
                lines += invoices.subscription_lines(app, "pending", one, metered=False, licensed=True)
            if sub["cancel_at_period_end"]:
                cancel(app, sub)
            else:
                app.emit("customer.subscription.updated", sub)
            invoice = invoices.create_invoice_object(app, customer, subscription=sub,
                                                     billing_reason="subscription_cycle", lines=lines)
            sub["latest_invoice"] = invoice["id"]
            created.append(invoice["id"])
            try:
                if sub["collection_method"] == "charge_automatically":
                    payments.pay(app, invoice)
                else:
                    invoices.finalize(app, invoice)
            except StripeError:
                sub["status"] = "past_due"
                app.emit("customer.subscription.updated", sub, {"status": "active"})
            if sub["status"] == "canceled":
                break
    app.store.touch()
    return created


ROUTES: list[Route] = [
    ("POST", r"/v1/subscriptions", create_subscription),
    ("GET", r"/v1/subscriptions", list_subscriptions),
    ("GET", r"/v1/subscriptions/(?P<id>[^/]+)", retrieve_subscription),
    ("POST", r"/v1/subscriptions/(?P<id>[^/]+)", update_subscription),
    ("DELETE", r"/v1/subscriptions/(?P<id>[^/]+)", cancel_subscription),
]
