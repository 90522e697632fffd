"""In-memory object store with a settable clock and optional JSON persistence.

All state lives here: Stripe objects by type (insertion ordered), meter events, and
small side tables (onboarding links). One re-entrant lock serialises every API call,
which keeps invariants simple; the stand-in is a test double, not a load target.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .errors import StripeError, no_such

_ALPHABET = string.ascii_letters + string.digits

# Human labels Stripe uses in "No such <label>: 'id'" messages.
LABELS = {
    "customer": "customer",
    "product": "product",
    "price": "price",
    "billing.meter": "billing meter",
    "subscription": "subscription",
    "subscription_item": "subscription item",
    "invoice": "invoice",
    "invoice_payment": "invoice payment",
    "payment_intent": "payment_intent",
    "payment_method": "PaymentMethod",
    "charge": "charge",
    "checkout.session": "checkout.session",
    "setup_intent": "setupintent",
    "account": "account",
    "transfer": "transfer",
    "event": "event",
}


class Clock:
    """Wall time plus an offset tests can move forward (`advance`) or pin (`set`)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> int:
        return int(time.time() + self.offset)

    def advance(self, seconds: float) -> int:
        self.offset += seconds
        return self.now()

    def set(self, timestamp: float) -> int:
        self.offset = timestamp - time.time()
        return self.now()


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


class Store:
    def __init__(self, clock: Clock | None = None, state_file: str | os.PathLike[str] | None = None):
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self.kind_of: dict[str, str] = {}
        self.meter_events: list[dict[str, Any]] = []
        self.tables: dict[str, dict[str, Any]] = {"onboarding_links": {}}
        self.state_file = Path(state_file) if state_file else None
        self.dirty = False
        self._save_lock = threading.Lock()
        if self.state_file and self.state_file.exists():
            self._load()

    # -- objects -----------------------------------------------------------
    def now(self) -> int:
        return self.clock.now()

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = obj["object"]
        self.objects.setdefault(kind, {})[obj["id"]] = obj
        self.kind_of[obj["id"]] = kind
        self.dirty = True
        return obj

    def find(self, kind: str, object_id: Any) -> dict[str, Any] | None:
        if not isinstance(object_id, str):
            return None
        return self.objects.get(kind, {}).get(object_id)

    def get(self, kind: str, object_id: Any, *, param: str = "id", status: int = 404) -> dict[str, Any]:
        obj = self.find(kind, object_id)
        if obj is None:
            raise no_such(LABELS.get(kind, kind), str(object_id), param=param, status=status)
        return obj

    def ref(self, kind: str, object_id: Any, param: str) -> dict[str, Any]:
        """An object named by a request parameter: unknown ids are a 400, as Stripe does."""
        return self.get(kind, object_id, param=param, status=400)

    def lookup(self, object_id: str) -> dict[str, Any] | None:
        kind = self.kind_of.get(object_id)
        return self.objects[kind][object_id] if kind else None

    def all(self, kind: str, where: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        """Objects of one type, newest first (Stripe's list order)."""
        items = list(self.objects.get(kind, {}).values())
        items.reverse()
        return [o for o in items if where is None or where(o)]

    def touch(self) -> None:
        self.dirty = True

    def counts(self) -> dict[str, int]:
        return {kind: len(items) for kind, items in sorted(self.objects.items())}

    # -- persistence -------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "clock_offset": self.clock.offset,
            "objects": self.objects,
            "meter_events": self.meter_events,
            "tables": self.tables,
        }

    def save(self) -> None:
        if not self.state_file or not self.dirty:
            return
        with self._save_lock:
            with self.lock:
                data = json.dumps(self.snapshot())
                self.dirty = False
            tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
            tmp.write_text(data)
            os.replace(tmp, self.state_file)  # atomic: a crash never leaves half a file

    def _load(self) -> None:
        assert self.state_file is not None
        data = json.loads(self.state_file.read_text())
        self.clock.offset = data.get("clock_offset", 0.0)
        self.objects = data.get("objects", {})
        self.meter_events = data.get("meter_events", [])
        self.tables.update(data.get("tables", {}))
        self.kind_of = {oid: kind for kind, items in self.objects.items() for oid in items}


def paginate(items: list[dict[str, Any]], params: dict[str, Any], url: str) -> dict[str, Any]:
    """A Stripe list object over `items` (already newest first) honouring limit/starting_after/ending_before."""
    try:
        limit = int(params.get("limit") or 10)
    except ValueError:
        raise StripeError(f"Invalid integer: {params.get('limit')}", param="limit") from None
    if not 1 <= limit <= 100:
        raise StripeError("This value must be between 1 and 100.", param="limit")
    ids = [o.get("id") for o in items]
    after, before = params.get("starting_after"), params.get("ending_before")
    if after:
        if after not in ids:
            raise StripeError(f"No such object: '{after}'", param="starting_after", code="resource_missing")
        window = items[ids.index(after) + 1 :]
        page, has_more = window[:limit], len(window) > limit
    elif before:
        if before not in ids:
            raise StripeError(f"No such object: '{before}'", param="ending_before", code="resource_missing")
        window = items[: ids.index(before)]
        page, has_more = window[-limit:], len(window) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": copy.deepcopy(page), "has_more": has_more, "url": url}


def expand(store: Store, obj: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """Replace id strings named by `expand[]` paths (e.g. `latest_invoice`, `data.customer`) with objects."""
    for path in paths:
        _expand(store, obj, path.split("."))
    return obj


def _expand(store: Store, node: Any, parts: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _expand(store, item, parts)
        return
    if not isinstance(node, dict) or parts[0] not in node:
        return
    key, rest = parts[0], parts[1:]
    value = node[key]
    if isinstance(value, str):
        found = store.lookup(value)
        if found is not None:
            node[key] = value = copy.deepcopy(found)
    if rest:
        _expand(store, value, rest)
