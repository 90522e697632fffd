"""Billing meters, meter events (deduplicated by `identifier`), adjustments and summaries.

Real Stripe behaviour mirrored here:
- a repeated `identifier` within 24h is refused: 400 invalid_request_error
  "An event already exists with identifier <id>." with `Stripe-Should-Retry: false`
  (Stripe sends no error `code` for it; match on the message);
- `timestamp` must lie within the past 35 days and at most 5 minutes ahead;
- an event naming an unknown customer is accepted (Stripe validates asynchronously) and
  later reported through a `billing.meter.error_report_triggered` event;
- summaries need minute-aligned bounds, hour/day-aligned with `value_grouping_window`.
"""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import StripeError, invalid, missing_param
from ..fixtures import template
from ..forms import as_decimal, as_int, require
from ..store import Store, new_id, paginate
from .common import Req, Route

if TYPE_CHECKING:
    from ..standin import StripeStandin

DEDUPE_SECONDS = 24 * 3600
MAX_AGE_SECONDS = 35 * 24 * 3600
MAX_FUTURE_SECONDS = 5 * 60
CANCEL_WINDOW_SECONDS = 24 * 3600


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


# -- meters ------------------------------------------------------------------
def create_meter(app: StripeStandin, req: Req) -> dict[str, Any]:
    p = req.params
    display_name = require(p, "display_name")
    event_name = require(p, "event_name")
    formula = (p.get("default_aggregation") or {}).get("formula")
    if not formula:
        raise missing_param("default_aggregation[formula]")
    if formula not in ("sum", "count", "last"):
        raise invalid("default_aggregation[formula]", f"Invalid default_aggregation[formula]: {formula}")
    if any(m["event_name"] == event_name and m["status"] == "active" for m in app.store.all("billing.meter")):
        raise StripeError(f"A meter with event_name `{event_name}` already exists.", param="event_name")
    mapping = p.get("customer_mapping") or {}
    value_settings = p.get("value_settings") or {}
    now = app.store.now()
    meter = template(
        "billing.meter", id=new_id("mtr_test", 32), created=now, updated=now,
        display_name=display_name, event_name=event_name, default_aggregation={"formula": formula},
        customer_mapping={"event_payload_key": mapping.get("event_payload_key") or "stripe_customer_id",
                          "type": mapping.get("type") or "by_id"},
        value_settings={"event_payload_key": value_settings.get("event_payload_key") or "value"},
        event_time_window=p.get("event_time_window") or None, status="active",
        status_transitions={"deactivated_at": None},
    )
    app.store.add(meter)
    app.emit("billing.meter.created", meter)
    return meter


def retrieve_meter(app: StripeStandin, req: Req) -> dict[str, Any]:
    return app.store.get("billing.meter", req.args["id"])


def update_meter(app: StripeStandin, req: Req) -> dict[str, Any]:
    meter = app.store.get("billing.meter", req.args["id"])
    if req.params.get("display_name"):
        meter["display_name"] = req.params["display_name"]
        meter["updated"] = app.store.now()
        app.store.touch()
    return meter


def set_meter_status(status: str):
    def handler(app: StripeStandin, req: Req) -> dict[str, Any]:
        meter = app.store.get("billing.meter", req.args["id"])
        meter["status"] = status
        meter["status_transitions"]["deactivated_at"] = app.store.now() if status == "inactive" else None
        meter["updated"] = app.store.now()
        app.store.touch()
        return meter

    return handler


def list_meters(app: StripeStandin, req: Req) -> dict[str, Any]:
    status = req.params.get("status")
    items = app.store.all("billing.meter", lambda m: status is None or m["status"] == status)
    return paginate(items, req.params, "/v1/billing/meters")


# -- meter events ------------------------------------------------------------
def create_meter_event(app: StripeStandin, req: Req) -> dict[str, Any]:
    p, store = req.params, app.store
    event_name = require(p, "event_name")
    payload = p.get("payload")
    if not isinstance(payload, dict):
        raise missing_param("payload")
    meter = next((m for m in store.all("billing.meter")
                  if m["event_name"] == event_name and m["status"] == "active"), None)
    if meter is None:
        raise StripeError(f"No active meter found for event_name `{event_name}`.", param="event_name")
    now = store.now()
    timestamp = as_int(p, "timestamp", now)
    assert timestamp is not None
    if timestamp < now - MAX_AGE_SECONDS or timestamp > now + MAX_FUTURE_SECONDS:
        raise invalid("timestamp", "Timestamp must be within the past 35 calendar days and no more than "
                                   "5 minutes in the future.")
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    if not payload.get(customer_key):
        raise missing_param(f"payload[{customer_key}]")
    raw_value = payload.get(value_key, "1")
    value = as_decimal(raw_value, f"payload[{value_key}]")
    identifier = p.get("identifier") or str(uuid.uuid4())
    for existing in store.meter_events:
        if existing["identifier"] == identifier and existing["created"] >= now - DEDUPE_SECONDS:
            raise StripeError(f"An event already exists with identifier {identifier}.",
                              headers={"Stripe-Should-Retry": "false"})
    customer_id = payload[customer_key]
    known = store.find("customer", customer_id) is not None
    record = {
        "identifier": identifier, "event_name": event_name, "meter": meter["id"],
        "customer": customer_id, "value": str(value), "timestamp": timestamp, "created": now,
        "status": "accepted" if known else "error",
        "error": None if known else f"No customer found with id '{customer_id}'",
    }
    store.meter_events.append(record)
    store.touch()
    if not known:
        app.emit("billing.meter.error_report_triggered", _error_report(meter, record, now))
    return template("billing.meter_event", created=now, event_name=event_name, identifier=identifier,
                    payload=dict(payload), timestamp=timestamp)


def _error_report(meter: dict[str, Any], record: dict[str, Any], now: int) -> dict[str, Any]:
    # Stripe announces this as a thin v2 event; the stand-in sends a v1 snapshot whose
    # object carries the same fields as the v2 event's `data`.
    return {
        "id": meter["id"], "object": "billing.meter_error_report", "meter": meter["id"], "livemode": False,
        "summary_message": "1 meter event failed validation",
        "validation_start": record["timestamp"], "validation_end": now,
        "reason": {"error_count": 1, "error_types": [{
            "code": "no_customer_defined" if not record["customer"] else "customer_not_found",
            "error_count": 1,
            "sample_errors": [{"error_message": record["error"],
                               "request": {"identifier": record["identifier"]}}],
        }]},
    }


def create_adjustment(app: StripeStandin, req: Req) -> dict[str, Any]:
    p, store = req.params, app.store
    event_name = require(p, "event_name")
    kind = p.get("type") or "cancel"
    if kind != "cancel":
        raise invalid("type", f"Invalid type: {kind}")
    identifier = (p.get("cancel") or {}).get("identifier")
    if not identifier:
        raise missing_param("cancel[identifier]")
    now = store.now()
    match = next((e for e in store.meter_events
                  if e["identifier"] == identifier and e["event_name"] == event_name), None)
    if match is None:
        raise StripeError(f"No meter event found with identifier {identifier}.", param="cancel[identifier]",
                          code="resource_missing")
    if match["created"] < now - CANCEL_WINDOW_SECONDS:
        raise StripeError("Meter events can only be canceled within 24 hours of being sent.",
                          param="cancel[identifier]")
    match["status"] = "canceled"
    match["canceled_at"] = now
    store.touch()
    return template("billing.meter_event_adjustment", cancel={"identifier": identifier},
                    event_name=event_name, status="complete", type="cancel")


# -- summaries ---------------------------------------------------------------
def aggregate(store: Store, meter: dict[str, Any], customer: str, start: int, end: int) -> Decimal:
    """The meter's formula over accepted, uncancelled events with start <= timestamp < end."""
    events = [e for e in store.meter_events
              if e["meter"] == meter["id"] and e["customer"] == customer and e["status"] == "accepted"
              and start <= e["timestamp"] < end]
    formula = meter["default_aggregation"]["formula"]
    if formula == "count":
        return Decimal(len(events))
    if formula == "last":
        latest = max(events, key=lambda e: (e["timestamp"], e["created"]), default=None)
        return Decimal(latest["value"]) if latest else Decimal(0)
    return sum((Decimal(e["value"]) for e in events), Decimal(0))


def list_summaries(app: StripeStandin, req: Req) -> dict[str, Any]:
    p, store = req.params, app.store
    meter = store.get("billing.meter", req.args["id"])
    customer = require(p, "customer")
    start, end = as_int(p, "start_time"), as_int(p, "end_time")
    if start is None:
        raise missing_param("start_time")
    if end is None:
        raise missing_param("end_time")
    window = p.get("value_grouping_window")
    step = {None: 60, "hour": 3600, "day": 86400}.get(window)
    if step is None:
        raise invalid("value_grouping_window", f"Invalid value_grouping_window: {window}")
    unit = {60: "minute", 3600: "hour", 86400: "day"}[step]
    for name, value in (("start_time", start), ("end_time", end)):
        if value % step:
            raise invalid(name, f"{name} must be aligned with {unit} boundaries.")
    if end <= start:
        raise invalid("end_time", "end_time must be after start_time.")
    bounds = [(start, end)] if window is None else [(t, min(t + step, end)) for t in range(start, end, step)]
    summaries = []
    for lo, hi in reversed(bounds):  # newest first, like every Stripe list
        digest = hashlib.sha1(f"{meter['id']}|{customer}|{lo}|{hi}".encode()).hexdigest()[:24]
        summaries.append(template(
            "billing.meter_event_summary", id=f"mtrusg_{digest}", meter=meter["id"],
            aggregated_value=_number(aggregate(store, meter, customer, lo, hi)), start_time=lo, end_time=hi,
        ))
    return paginate(summaries, p, f"/v1/billing/meters/{meter['id']}/event_summaries")


ROUTES: list[Route] = [
    ("POST", r"/v1/billing/meters", create_meter),
    ("GET", r"/v1/billing/meters", list_meters),
    ("GET", r"/v1/billing/meters/(?P<id>[^/]+)", retrieve_meter),
    ("POST", r"/v1/billing/meters/(?P<id>[^/]+)", update_meter),
    ("POST", r"/v1/billing/meters/(?P<id>[^/]+)/deactivate", set_meter_status("inactive")),
    ("POST", r"/v1/billing/meters/(?P<id>[^/]+)/reactivate", set_meter_status("active")),
    ("GET", r"/v1/billing/meters/(?P<id>[^/]+)/event_summaries", list_summaries),
    ("POST", r"/v1/billing/meter_events", create_meter_event),
    ("POST", r"/v1/billing/meter_event_adjustments", create_adjustment),
]
