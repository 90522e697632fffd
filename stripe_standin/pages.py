"""The few browser pages Stripe would host: Checkout, Connect onboarding, hosted invoices.

Each page is plain HTML with no external assets. Completion pages send the browser on
with a meta refresh (not a 303) so scripted clients can read the result without having
to reach the return URL.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from .errors import StripeError
from .resources import checkout, connect

if TYPE_CHECKING:
    from .standin import StripeStandin

Page = tuple[int, str]


def _page(title: str, body: str, redirect: str | None = None) -> str:
    refresh = f'<meta http-equiv="refresh" content="0;url={html.escape(redirect)}">' if redirect else ""
    link = f'<p><a id="continue" href="{html.escape(redirect)}">Continue</a></p>' if redirect else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'>{refresh}<title>{html.escape(title)}</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;}"
            "button{font-size:1.1rem;padding:.6rem 1.4rem}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}{link}<p><small>Stripe stand-in (test mode)</small></p>"
            "</body></html>")


def handle(app: StripeStandin, method: str, path: str, body: str) -> Page | None:
    with app.store.lock:
        result = _handle(app, method, path, body)
    app.store.save()
    return result


def _handle(app: StripeStandin, method: str, path: str, body: str) -> Page | None:
    if method == "GET" and path in ("/", ""):
        return 200, _page("Stripe stand-in", "<p>API at <code>/v1</code>, controls at "
                                             "<code>/_standin/state</code>.</p>")
    if m := re.fullmatch(r"/checkout/([^/]+)", path):
        session = app.store.find("checkout.session", m[1])
        if session is None or method != "GET":
            return 404, _page("Checkout session not found", "")
        if session["status"] != "open":
            return 200, _page(f"Checkout {session['status']}", "<p>This session can no longer be used.</p>")
        amount = session["amount_total"]
        what = {"setup": "Save a card for future payments",
                "subscription": "Start the subscription",
                "payment": "Pay"}[session["mode"]]
        price = f"<p>Total due today: {amount / 100:.2f} {session['currency'].upper()}</p>" if amount else ""
        form = (f"<form method='post' action='/checkout/{html.escape(session['id'])}/complete'>"
                f"<p><label>Email <input name='email' value='{html.escape(session['customer_email'] or '')}'>"
                "</label></p><p>Card: 4242 4242 4242 4242 (test)</p>"
                f"<button id='submit' type='submit'>{html.escape(what)}</button></form>")
        return 200, _page(what, price + form)
    if m := re.fullmatch(r"/checkout/([^/]+)/complete", path):
        session = app.store.find("checkout.session", m[1])
        if session is None or method != "POST":
            return 404, _page("Checkout session not found", "")
        email = (parse_qs(body).get("email") or [None])[0] or None
        try:
            checkout.complete_session(app, session, email)
        except StripeError as exc:
            return 400, _page("Checkout failed", f"<p>{html.escape(exc.message)}</p>")
        target = (session["success_url"] or "").replace("{CHECKOUT_SESSION_ID}", session["id"])
        return 200, _page("Done", "<p id='status'>complete</p>", redirect=target or None)
    if m := re.fullmatch(r"/connect/onboarding/([^/]+)", path):
        target, completed = connect.visit_onboarding_link(app, m[1])
        if target is None and not completed:
            return 404, _page("Link not found", "")
        if not completed:
            return 200, _page("This link has expired", "<p id='status'>expired</p>", redirect=target)
        return 200, _page("Onboarding complete", "<p id='status'>complete</p>", redirect=target)
    if m := re.fullmatch(r"/connect/express/([^/]+)", path):
        return 200, _page("Express dashboard", f"<p>Account {html.escape(m[1])}</p>")
    if m := re.fullmatch(r"/invoices/([^/]+)", path):
        invoice = app.store.find("invoice", m[1])
        if invoice is None:
            return 404, _page("Invoice not found", "")
        rows = "".join(f"<tr><td>{html.escape(li['description'] or '')}</td><td>{li['amount'] / 100:.2f}</td></tr>"
                       for li in invoice["lines"]["data"])
        return 200, _page(f"Invoice {invoice['number'] or invoice['id']}",
                          f"<table>{rows}</table><p>Total {invoice['total'] / 100:.2f} "
                          f"{invoice['currency'].upper()} — {html.escape(invoice['status'])}</p>")
    return None
