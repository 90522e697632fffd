"""Test-control endpoints under `/_standin/` (JSON in, JSON out).

GET    /_standin/requests                       API calls received (method, path, key, status, replayed)
GET    /_standin/state                          counts per object type, meter events, transfers, events,
                                                webhook deliveries, faults, clock
GET    /_standin/faults   POST {"rules": [...]}  DELETE            fault injection (see faults.py)
POST   /_standin/invoices/{id}/fail_payment     {"decline_future_attempts": bool}
POST   /_standin/webhooks/resend/{evt_id}       deliver an event again (duplicate delivery)
POST   /_standin/webhooks/pause | resume        hold deliveries / release them in order
POST   /_standin/webhooks/deliver               {"order": "forward"|"reverse"|"shuffle", "seed": n}
POST   /_standin/webhooks/config                {"url": ..., "secret": ...}
GET    /_standin/webhooks                       delivery log
GET    /_standin/clock   POST {"advance_seconds": n} | {"set": unix}   (advancing bills due periods)
POST   /_standin/checkout/{id}/complete         {"email": ...}
POST   /_standin/accounts/{id}/complete_onboarding
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .errors import StripeError

if TYPE_CHECKING:
    from .standin import StripeStandin


def handle(app: StripeStandin, method: str, path: str, body: str) -> tuple[int, dict[str, Any]]:
    try:
        data = json.loads(body) if body.strip() else {}
    except json.JSONDecodeError:
        return 400, {"error": {"message": "body must be JSON"}}
    try:
        return 200, _route(app, method, path, data)
    except StripeError as exc:
        return exc.status, exc.body()
    except (ValueError, TypeError, KeyError) as exc:
        return 400, {"error": {"message": str(exc)}}


def _route(app: StripeStandin, method: str, path: str, data: dict[str, Any]) -> dict[str, Any]:
    if path == "/_standin/state" and method == "GET":
        return app.state()
    if path == "/_standin/requests" and method == "GET":
        return {"requests": list(app.requests)}
    if path == "/_standin/faults":
        if method == "POST":
            return {"rules": app.set_faults(data.get("rules", []))}
        if method == "DELETE":
            app.clear_faults()
            return {"rules": []}
        return {"rules": app.faults.describe()}
    if (m := re.fullmatch(r"/_standin/invoices/([^/]+)/fail_payment", path)) and method == "POST":
        return app.fail_invoice_payment(m[1], decline_future_attempts=bool(data.get("decline_future_attempts")))
    if (m := re.fullmatch(r"/_standin/webhooks/resend/([^/]+)", path)) and method == "POST":
        return app.resend_event(m[1])
    if path == "/_standin/webhooks/pause" and method == "POST":
        app.webhooks.pause()
        return app.webhooks.describe()
    if path == "/_standin/webhooks/resume" and method == "POST":
        app.webhooks.resume()
        return app.webhooks.describe()
    if path == "/_standin/webhooks/deliver" and method == "POST":
        return {"delivered": app.webhooks.deliver_pending(data.get("order", "forward"), data.get("seed"))}
    if path == "/_standin/webhooks/config" and method == "POST":
        app.configure_webhooks(data.get("url"), data.get("secret"))
        return app.webhooks.describe()
    if path == "/_standin/webhooks" and method == "GET":
        return app.webhooks.describe()
    if path == "/_standin/clock":
        if method == "POST":
            if "set" in data:
                return app.set_clock(float(data["set"]))
            return app.advance_clock(float(data.get("advance_seconds", 0)))
        return {"now": app.store.now(), "offset": app.store.clock.offset}
    if (m := re.fullmatch(r"/_standin/checkout/([^/]+)/complete", path)) and method == "POST":
        return app.complete_checkout(m[1], email=data.get("email"))
    if (m := re.fullmatch(r"/_standin/accounts/([^/]+)/complete_onboarding", path)) and method == "POST":
        return app.complete_onboarding(m[1])
    raise StripeError(f"Unknown stand-in control: {method} {path}", status=404)
