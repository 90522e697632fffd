"""Connect: Express accounts, onboarding links, login links and transfers.

An account link's `url` is a stand-in page; visiting it completes onboarding (charges,
payouts and details submitted, capabilities active, requirements cleared), fires
`account.updated`, and sends the browser on to `return_url`. Links are single-use and
expire after 5 minutes of the stand-in clock, like Stripe's; an expired link sends the
browser to `refresh_url`.

Transfers check what Stripe checks: the destination exists and has the `transfers`
capability active, and `source_transaction` names a succeeded charge.
"""

from __future__ import annotations

import copy
import secrets
from typing import TYPE_CHECKING, Any

from ..errors import StripeError, invalid, missing_param
from ..fixtures import template
from ..forms import as_int, require
from ..store import new_id, paginate
from .common import Req, Route, apply_metadata

if TYPE_CHECKING:
    from ..standin import StripeStandin

LINK_TTL_SECONDS = 300


def create_account(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params
    controller = p.get("controller") if isinstance(p.get("controller"), dict) else {}
    kind = p.get("type") or ("express" if (controller.get("stripe_dashboard") or {}).get("type") == "express"
                             else "custom" if controller else "standard")
    if kind not in ("express", "standard", "custom"):
        raise invalid("type", "Invalid type: must be one of custom, express, or standard")
    account_id = new_id("acct", 16)
    requested = p.get("capabilities") if isinstance(p.get("capabilities"), dict) else {}
    capabilities = {name: "inactive" for name, spec in requested.items()
                    if isinstance(spec, dict) and spec.get("requested") == "true"}
    if kind == "express" and not capabilities:
        capabilities = {"card_payments": "inactive", "transfers": "inactive"}
    account = template(
        "account", id=account_id, created=app.store.now(), type=kind, email=p.get("email") or None,
        country=(p.get("country") or "US").upper(), default_currency=p.get("default_currency") or "usd",
        business_type=p.get("business_type") or None, capabilities=capabilities, charges_enabled=False,
        payouts_enabled=False, details_submitted=False, metadata={},
        controller={"type": "application", "is_controller": True,
                    "stripe_dashboard": {"type": "express" if kind == "express" else "full"}}
        if kind != "standard" else {"type": "account"},
    )
    account["external_accounts"]["url"] = f"/v1/accounts/{account_id}/external_accounts"
    if isinstance(p.get("business_profile"), dict):
        account["business_profile"].update(p["business_profile"])
    apply_metadata(account, p)
    app.store.add(account)
    return account


def update_account(app: StripeStandin, req: Req) -> dict[str, Any]:
    account = app.store.get("account", req.args["id"])
    previous: dict[str, Any] = {}
    if "email" in req.params:
        previous["email"] = account["email"]
        account["email"] = req.params["email"] or None
    if isinstance(req.params.get("business_profile"), dict):
        previous["business_profile"] = copy.deepcopy(account["business_profile"])
        account["business_profile"].update(req.params["business_profile"])
    if "metadata" in req.params:
        previous["metadata"] = dict(account["metadata"])
        apply_metadata(account, req.params)
    app.store.touch()
    app.emit("account.updated", account, previous)
    return account


def complete_onboarding(app: StripeStandin, account: dict[str, Any]) -> dict[str, Any]:
    previous = {k: copy.deepcopy(account[k]) for k in
                ("charges_enabled", "payouts_enabled", "details_submitted", "capabilities", "requirements")}
    account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True)
    account["capabilities"] = {name: "active" for name in account["capabilities"] or
                               {"card_payments": 1, "transfers": 1}}
    for key in ("currently_due", "eventually_due", "past_due", "pending_verification", "errors", "alternatives"):
        account["requirements"][key] = []
    account["requirements"]["disabled_reason"] = None
    account["requirements"]["current_deadline"] = None
    account["tos_acceptance"] = {"date": app.store.now(), "ip": "127.0.0.1", "user_agent": "stripe-standin"}
    app.store.touch()
    app.emit("account.updated", account, previous)
    return account


def create_account_link(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params
    account = app.store.ref("account", require(p, "account"), "account")
    kind = require(p, "type")
    if kind not in ("account_onboarding", "account_update"):
        raise invalid("type", "Invalid type: must be one of account_onboarding or account_update")
    if account["type"] == "express" and kind == "account_update":
        raise StripeError("You cannot create `account_update` type Account Links for Express accounts.",
                          param="type")
    now = app.store.now()
    token = secrets.token_urlsafe(16)
    app.store.tables["onboarding_links"][token] = {
        "account": account["id"], "return_url": p.get("return_url"), "refresh_url": p.get("refresh_url"),
        "expires_at": now + LINK_TTL_SECONDS, "used": False,
    }
    app.store.touch()
    return template("account_link", created=now, expires_at=now + LINK_TTL_SECONDS,
                    url=f"{app.base_url}/connect/onboarding/{token}")


def visit_onboarding_link(app: StripeStandin, token: str) -> tuple[str | None, bool]:
    """Follow an account link: returns (where to send the browser, whether onboarding completed)."""
    link = app.store.tables["onboarding_links"].get(token)
    if link is None:
        return None, False
    if link["used"] or link["expires_at"] < app.store.now():
        return link["refresh_url"], False
    link["used"] = True
    complete_onboarding(app, app.store.get("account", link["account"]))
    return link["return_url"], True


def create_login_link(app: StripeStandin, req: Req) -> dict[str, Any]:
    account = app.store.get("account", req.args["id"])
    if account["type"] != "express":
        raise StripeError("Login links can only be created for Express accounts.")
    return template("login_link", created=app.store.now(), url=f"{app.base_url}/connect/express/{account['id']}")


def list_accounts(app: StripeStandin, req: Req) -> dict[str, Any]:
    return paginate(app.store.all("account"), req.params, "/v1/accounts")


# -- transfers ---------------------------------------------------------------
def create_transfer(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params
    amount = as_int(p, "amount")
    if amount is None:
        raise missing_param("amount")
    if amount <= 0:
        raise invalid("amount", "This value must be greater than or equal to 1.", code="amount_too_small")
    currency = str(require(p, "currency")).lower()
    destination = app.store.find("account", require(p, "destination"))
    if destination is None:
        raise StripeError(f"No such destination: '{p['destination']}'", param="destination",
                          code="resource_missing")
    if destination["capabilities"].get("transfers") != "active":
        raise StripeError("Your destination account needs to have at least one of the following capabilities "
                          "enabled: transfers, crypto_transfers, legacy_payments", param="destination",
                          code="insufficient_capabilities_for_transfer")
    source = p.get("source_transaction") or None
    if source:
        charge = app.store.ref("charge", source, "source_transaction")
        if charge["status"] != "succeeded":
            raise StripeError("The source_transaction must be a succeeded charge.", param="source_transaction")
        if charge["currency"] != currency:
            raise StripeError("The currency of source_transaction's balance transaction must match the transfer "
                              "currency.", param="currency")
        already = sum(t["amount"] for t in app.store.all("transfer", lambda t: t["source_transaction"] == source))
        if already + amount > charge["amount"]:
            raise StripeError("Transfers using this transaction as a source must not exceed the source amount "
                              f"of {charge['amount']}.", param="amount")
    transfer = template(
        "transfer", id=new_id("tr"), created=app.store.now(), amount=amount, currency=currency,
        destination=destination["id"], destination_payment=new_id("py", 14), balance_transaction=new_id("txn"),
        description=p.get("description") or None, transfer_group=p.get("transfer_group") or None,
        source_transaction=source, source_type="card", metadata={}, amount_reversed=0, reversed=False,
    )
    transfer["reversals"]["url"] = f"/v1/transfers/{transfer['id']}/reversals"
    apply_metadata(transfer, p)
    app.store.add(transfer)
    app.emit("transfer.created", transfer)
    return transfer


def update_transfer(app: StripeStandin, req: Req) -> dict[str, Any]:
    transfer = app.store.get("transfer", req.args["id"])
    previous = {"metadata": dict(transfer["metadata"])}
    apply_metadata(transfer, req.params)
    app.store.touch()
    app.emit("transfer.updated", transfer, previous)
    return transfer


def list_transfers(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params

    def keep(t: dict[str, Any]) -> bool:
        return all(not p.get(k) or t[k] == p[k] for k in ("destination", "transfer_group"))

    return paginate(app.store.all("transfer", keep), p, "/v1/transfers")


ROUTES: list[Route] = [
    ("POST", r"/v1/accounts", create_account),
    ("GET", r"/v1/accounts", list_accounts),
    ("GET", r"/v1/accounts/(?P<id>[^/]+)", lambda app, req: app.store.get("account", req.args["id"])),
    ("POST", r"/v1/accounts/(?P<id>[^/]+)", update_account),
    ("POST", r"/v1/accounts/(?P<id>[^/]+)/login_links", create_login_link),
    ("POST", r"/v1/account_links", create_account_link),
    ("POST", r"/v1/transfers", create_transfer),
    ("GET", r"/v1/transfers", list_transfers),
    ("GET", r"/v1/transfers/(?P<id>[^/]+)", lambda app, req: app.store.get("transfer", req.args["id"])),
    ("POST", r"/v1/transfers/(?P<id>[^/]+)", update_transfer),
]
