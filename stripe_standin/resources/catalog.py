"""Customers, products and prices."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import StripeError, invalid
from ..fixtures import template
from ..forms import as_bool, as_decimal, as_int, require
from ..store import new_id, paginate
from .common import Req, Route, apply_fields, apply_metadata

if TYPE_CHECKING:
    from ..standin import StripeStandin


# -- customers ---------------------------------------------------------------
def create_customer(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params
    customer = template(
        "customer",
        id=new_id("cus", 14),
        created=app.store.now(),
        address=p.get("address") or None,
        discount=None,
        shipping=None,
        invoice_prefix=secrets.token_hex(4).upper(),
        metadata={},
    )
    apply_fields(customer, p, ["email", "name", "description", "phone"])
    settings = p.get("invoice_settings") or {}
    if settings.get("default_payment_method"):
        app.store.ref("payment_method", settings["default_payment_method"], "invoice_settings[default_payment_method]")
        customer["invoice_settings"]["default_payment_method"] = settings["default_payment_method"]
    apply_metadata(customer, p)
    app.store.add(customer)
    app.emit("customer.created", customer)
    return customer


def retrieve_customer(app: StripeStandin, req: Req) -> dict[str, Any]:
    customer = app.store.find("customer", req.args["id"])
    if customer is None:
        deleted = app.store.tables.setdefault("deleted", {}).get(req.args["id"])
        if deleted:
            return deleted
    return app.store.get("customer", req.args["id"])


def update_customer(app: StripeStandin, req: Req) -> dict[str, Any]:
    customer = app.store.get("customer", req.args["id"])
    previous = apply_fields(customer, req.params, ["email", "name", "description", "phone"])
    settings = req.params.get("invoice_settings") or {}
    if "default_payment_method" in settings:
        pm = settings["default_payment_method"] or None
        if pm:
            app.store.ref("payment_method", pm, "invoice_settings[default_payment_method]")
        previous["invoice_settings"] = dict(customer["invoice_settings"])
        customer["invoice_settings"]["default_payment_method"] = pm
    if "metadata" in req.params:
        previous["metadata"] = dict(customer["metadata"])
        apply_metadata(customer, req.params)
    app.store.touch()
    app.emit("customer.updated", customer, previous)
    return customer


def delete_customer(app: StripeStandin, req: Req) -> dict[str, Any]:
    customer = app.store.get("customer", req.args["id"])
    del app.store.objects["customer"][customer["id"]]
    deleted = {"id": customer["id"], "object": "customer", "deleted": True}
    app.store.tables.setdefault("deleted", {})[customer["id"]] = deleted
    app.store.touch()
    app.emit("customer.deleted", customer)
    return deleted


def list_customers(app: StripeStandin, req: Req) -> dict[str, Any]:
    email = req.params.get("email")
    items = app.store.all("customer", lambda c: email is None or c.get("email") == email)
    return paginate(items, req.params, "/v1/customers")


# -- products ----------------------------------------------------------------
def create_product(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params
    name = require(p, "name")
    product_id = p.get("id") or new_id("prod", 14)
    if app.store.find("product", product_id):
        raise StripeError("Product already exists.", code="resource_already_exists", param="id")
    now = app.store.now()
    product = template(
        "product", id=product_id, name=name, created=now, updated=now, default_price=None,
        description=p.get("description") or None, package_dimensions=None, type="service",
        active=as_bool(p, "active", True), metadata={}, unit_label=p.get("unit_label") or None,
    )
    apply_metadata(product, p)
    app.store.add(product)
    app.emit("product.created", product)
    return product


def retrieve_product(app: StripeStandin, req: Req) -> dict[str, Any]:
    return app.store.get("product", req.args["id"])


def update_product(app: StripeStandin, req: Req) -> dict[str, Any]:
    product = app.store.get("product", req.args["id"])
    previous = apply_fields(product, req.params, ["name", "description", "unit_label"])
    if "active" in req.params:
        product["active"] = as_bool(req.params, "active")
    apply_metadata(product, req.params)
    product["updated"] = app.store.now()
    app.store.touch()
    app.emit("product.updated", product, previous)
    return product


def list_products(app: StripeStandin, req: Req) -> dict[str, Any]:
    active = req.params.get("active")
    items = app.store.all("product", lambda o: active is None or o["active"] == (active == "true"))
    return paginate(items, req.params, "/v1/products")


# -- prices ------------------------------------------------------------------
def create_price(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params
    currency = str(require(p, "currency")).lower()
    if p.get("product"):
        product = app.store.ref("product", p["product"], "product")
    elif isinstance(p.get("product_data"), dict):
        product = create_product(app, Req("POST", "/v1/products", p["product_data"]))
    else:
        raise StripeError("You must specify either `product` or `product_data` when creating a price.",
                          param="product")
    if p.get("unit_amount_decimal") not in (None, ""):
        decimal = as_decimal(p["unit_amount_decimal"], "unit_amount_decimal")
        if decimal.is_finite() and -decimal.as_tuple().exponent > 12:  # Stripe keeps 12 places at most
            raise invalid("unit_amount_decimal", f"Invalid decimal: {p['unit_amount_decimal']}; must contain at "
                                                 "maximum 12 decimal places.")
    elif p.get("unit_amount") not in (None, ""):
        decimal = Decimal(as_int(p, "unit_amount") or 0)
    else:
        raise StripeError("You must specify either `unit_amount` or `unit_amount_decimal`.",
                          param="unit_amount", code="parameter_missing")
    if decimal < 0:
        raise invalid("unit_amount", "This value must be greater than or equal to 0.")
    recurring = None
    if isinstance(p.get("recurring"), dict):
        r = p["recurring"]
        interval = require(r, "interval") if "interval" in r else "month"
        if interval not in ("day", "week", "month", "year"):
            raise invalid("recurring[interval]", f"Invalid recurring[interval]: {interval}")
        usage_type = r.get("usage_type") or "licensed"
        meter = r.get("meter") or None
        if usage_type == "metered" and not meter:
            raise StripeError("Prices with `recurring[usage_type]=metered` must be backed by a meter. "
                              "Pass `recurring[meter]`.", param="recurring[meter]", code="parameter_missing")
        if meter:
            app.store.ref("billing.meter", meter, "recurring[meter]")
        recurring = {"interval": interval, "interval_count": as_int(r, "interval_count", 1),
                     "meter": meter, "usage_type": usage_type,
                     "trial_period_days": as_int(r, "trial_period_days")}
    whole = decimal == decimal.to_integral_value()
    price = template(
        "price", id=new_id("price"), created=app.store.now(), currency=currency, product=product["id"],
        custom_unit_amount=None, transform_quantity=None, recurring=recurring,
        type="recurring" if recurring else "one_time",
        unit_amount=int(decimal) if whole else None, unit_amount_decimal=format(decimal.normalize(), "f"),
        nickname=p.get("nickname") or None, lookup_key=p.get("lookup_key") or None,
        active=as_bool(p, "active", True), metadata={},
    )
    apply_metadata(price, p)
    app.store.add(price)
    if product.get("default_price") is None and not p.get("product"):
        product["default_price"] = price["id"]
    app.emit("price.created", price)
    return price


def retrieve_price(app: StripeStandin, req: Req) -> dict[str, Any]:
    return app.store.get("price", req.args["id"])


def update_price(app: StripeStandin, req: Req) -> dict[str, Any]:
    price = app.store.get("price", req.args["id"])
    previous = apply_fields(price, req.params, ["nickname", "lookup_key"])
    if "active" in req.params:
        price["active"] = as_bool(req.params, "active")
    apply_metadata(price, req.params)
    app.store.touch()
    app.emit("price.updated", price, previous)
    return price


def list_prices(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params
    lookup_keys = p.get("lookup_keys")

    def keep(price: dict[str, Any]) -> bool:
        if p.get("product") and price["product"] != p["product"]:
            return False
        if p.get("active") and price["active"] != (p["active"] == "true"):
            return False
        if p.get("type") and price["type"] != p["type"]:
            return False
        if p.get("currency") and price["currency"] != p["currency"]:
            return False
        if lookup_keys and price["lookup_key"] not in lookup_keys:
            return False
        return True

    return paginate(app.store.all("price", keep), p, "/v1/prices")


ROUTES: list[Route] = [
    ("POST", r"/v1/customers", create_customer),
    ("GET", r"/v1/customers", list_customers),
    ("GET", r"/v1/customers/(?P<id>[^/]+)", retrieve_customer),
    ("POST", r"/v1/customers/(?P<id>[^/]+)", update_customer),
    ("DELETE", r"/v1/customers/(?P<id>[^/]+)", delete_customer),
    ("POST", r"/v1/products", create_product),
    ("GET", r"/v1/products", list_products),
    ("GET", r"/v1/products/(?P<id>[^/]+)", retrieve_product),
    ("POST", r"/v1/products/(?P<id>[^/]+)", update_product),
    ("POST", r"/v1/prices", create_price),
    ("GET", r"/v1/prices", list_prices),
    ("GET", r"/v1/prices/(?P<id>[^/]+)", retrieve_price),
    ("POST", r"/v1/prices/(?P<id>[^/]+)", update_price),
]
