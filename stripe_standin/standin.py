"""`StripeStandin`: the stand-in as an object tests and the CLI start and steer.

    standin = StripeStandin(port=0, webhook_url=..., webhook_secret="whsec_...")
    base_url = standin.start()
    client = standin.client()          # a real stripe.StripeClient pointed at it
    ...
    standin.stop()

Every `/_standin/` control has a method here of the same meaning.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from typing import Any

from .errors import StripeError
from .faults import Faults
from .fixtures import template
from .idempotency import IdempotencyKeys
from .resources import checkout, connect, payments, subscriptions
from .store import Clock, Store, new_id
from .webhooks import WebhookDispatcher

API_VERSION = "2026-10-28.endive"


class StripeStandin:
    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        state_file: str | None = None,
        api_version: str = API_VERSION,
        webhook_max_attempts: int = 5,
        webhook_backoff_seconds: float = 0.5,
    ) -> None:
        self.host, self.port = host, port
        self.api_version = api_version
        self.store = Store(Clock(), state_file)
        self.idempotency = IdempotencyKeys(self.store.now)
        self.faults = Faults()
        self.webhooks = WebhookDispatcher(webhook_url, webhook_secret, max_attempts=webhook_max_attempts,
                                          backoff_seconds=webhook_backoff_seconds)
        self.local = threading.local()
        self.requests: deque[dict[str, Any]] = deque(maxlen=2000)  # API calls as received
        self.stopping = threading.Event()
        self.base_url = f"http://{host}:{port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> str:
        from .server import make_server

        self.stopping.clear()
        self._server = make_server(self, self.host, self.port)
        self.port = self._server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="stripe-standin", daemon=True)
        self._thread.start()
        return self.base_url

    def serve_forever(self) -> None:
        self.start()
        assert self._thread is not None
        self._thread.join()

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.webhooks.stop()
        self.store.save()

    def __enter__(self) -> StripeStandin:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def base_addresses(self) -> dict[str, str]:
        return {name: self.base_url for name in ("api", "connect", "files", "meter_events")}

    def client(self, api_key: str = "sk_test_standin", **kwargs: Any) -> Any:
        """A real `stripe.StripeClient` aimed at this stand-in (imports stripe lazily)."""
        import stripe

        return stripe.StripeClient(api_key, base_addresses=self.base_addresses(), **kwargs)

    # -- events ------------------------------------------------------------
    def emit(self, type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
        request = getattr(self.local, "request", None) or {"id": None, "idempotency_key": None}
        event = template(
            "event", id=new_id("evt"), created=self.store.now(), type=type, api_version=self.api_version,
            data={"object": copy.deepcopy(obj)}, request=dict(request),
            pending_webhooks=1 if self.webhooks.url else 0,
        )
        if previous:
            event["data"]["previous_attributes"] = copy.deepcopy(previous)
        self.store.add(event)
        self.webhooks.enqueue(event)
        return event

    def configure_webhooks(self, url: str | None, secret: str | None) -> None:
        self.webhooks.configure(url, secret)

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Events oldest first (the order they were created), optionally of one type."""
        with self.store.lock:
            found = list(self.store.objects.get("event", {}).values())
        return [e for e in found if type is None or e["type"] == type]

    # -- controls ----------------------------------------------------------
    def state(self) -> dict[str, Any]:
        with self.store.lock:
            return {
                "counts": self.store.counts(),
                "meter_events": copy.deepcopy(self.store.meter_events),
                "transfers": copy.deepcopy(list(self.store.objects.get("transfer", {}).values())),
                "events": [{"id": e["id"], "type": e["type"], "created": e["created"]} for e in self.events()],
                "webhooks": self.webhooks.describe(),
                "faults": self.faults.describe(),
                "clock": {"now": self.store.now(), "offset": self.store.clock.offset},
                "idempotency_keys": len(self.idempotency),
            }

    def set_faults(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.faults.set(rules)

    def add_fault(self, path_prefix: str, mode: str, **options: Any) -> None:
        self.faults.add(path_prefix=path_prefix, mode=mode, **options)

    def clear_faults(self) -> None:
        self.faults.clear()

    def fail_invoice_payment(self, invoice_id: str, *, decline_future_attempts: bool = False) -> dict[str, Any]:
        with self.store.lock:
            invoice = self.store.get("invoice", invoice_id)
            self.store.tables.setdefault("declines", {})[invoice_id] = decline_future_attempts
            payments.fail_payment(self, invoice)
            result = copy.deepcopy(invoice)
        self.store.save()
        return result

    def resend_event(self, event_id: str) -> dict[str, Any]:
        event = self.store.get("event", event_id)
        if not self.webhooks.url:
            raise StripeError("No webhook URL is configured on the stand-in.")
        self.webhooks.resend(event)
        return {"resent": event_id}

    def pause_webhooks(self) -> None:
        self.webhooks.pause()

    def resume_webhooks(self) -> None:
        self.webhooks.resume()

    def deliver_webhooks(self, order: str = "forward", seed: int | None = None) -> list[str]:
        return self.webhooks.deliver_pending(order, seed)

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        return self.webhooks.wait_idle(timeout)

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move time forward; subscription periods that ended are invoiced and charged."""
        with self.store.lock:
            self.store.clock.advance(seconds)
            billed = subscriptions.bill_due_periods(self)
            self.store.touch()
        self.store.save()
        return {"now": self.store.now(), "invoices": billed}

    def set_clock(self, timestamp: float) -> dict[str, Any]:
        with self.store.lock:
            self.store.clock.set(timestamp)
            billed = subscriptions.bill_due_periods(self)
            self.store.touch()
        self.store.save()
        return {"now": self.store.now(), "invoices": billed}

    def complete_checkout(self, session_id: str, email: str | None = None) -> dict[str, Any]:
        with self.store.lock:
            session = self.store.get("checkout.session", session_id)
            result = copy.deepcopy(checkout.complete_session(self, session, email))
        self.store.save()
        return result

    def complete_onboarding(self, account_id: str) -> dict[str, Any]:
        with self.store.lock:
            result = copy.deepcopy(connect.complete_onboarding(self, self.store.get("account", account_id)))
        self.store.save()
        return result
