"""Signed webhook delivery, the way Stripe does it.

Every event is POSTed as JSON with `Stripe-Signature: t=<unix>,v1=<hex>` where v1 is
HMAC-SHA256(secret, f"{t}.{raw body}"). `t` is real wall time, not the stand-in clock:
the SDK's `construct_event` rejects signatures older than 5 minutes of *its* clock.

Delivery happens on one background thread (so events arrive in creation order unless a
retry or a test reorders them). A failed POST (connection error or non-2xx) is retried
with exponential backoff up to `max_attempts`. `pause()` holds events so a test can
release them with `deliver_pending(order="reverse")`; `resend()` delivers a duplicate.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import random
import threading
import time
import urllib.error
import urllib.request
from typing import Any


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


class WebhookDispatcher:
    def __init__(
        self,
        url: str | None = None,
        secret: str | None = None,
        *,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.url, self.secret = url, secret
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.paused = False
        self.pending: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []  # one record per POST
        self.delivered: list[str] = []  # event ids acknowledged with 2xx, in order
        self._heap: list[tuple[float, int, dict[str, Any], int]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="stripe-standin-webhooks", daemon=True)
        self._thread.start()

    # -- control -----------------------------------------------------------
    def configure(self, url: str | None, secret: str | None) -> None:
        with self._cond:
            self.url, self.secret = url, secret

    def enqueue(self, event: dict[str, Any]) -> None:
        with self._cond:
            if not self.url:
                return
            if self.paused:
                self.pending.append(event)
                return
            self._push(event, 1, 0.0)

    def pause(self) -> None:
        with self._cond:
            self.paused = True

    def resume(self) -> None:
        with self._cond:
            self.paused = False
        self.deliver_pending()

    def deliver_pending(self, order: str = "forward", seed: int | None = None) -> list[str]:
        with self._cond:
            events, self.pending = self.pending, []
            if order == "reverse":
                events.reverse()
            elif order == "shuffle":
                random.Random(seed).shuffle(events)
            elif order != "forward":
                raise ValueError("order must be forward, reverse or shuffle")
            for event in events:
                self._push(event, 1, 0.0)
            return [e["id"] for e in events]

    def resend(self, event: dict[str, Any]) -> None:
        with self._cond:
            self._push(event, 1, 0.0)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or in flight (retries scheduled later count as queued)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def describe(self) -> dict[str, Any]:
        with self._cond:
            return {
                "url": self.url,
                "paused": self.paused,
                "pending": [e["id"] for e in self.pending],
                "queued": len(self._heap),
                "delivered": list(self.delivered),
                "attempts": list(self.attempts),
            }

    # -- worker ------------------------------------------------------------
    def _push(self, event: dict[str, Any], attempt: int, delay: float) -> None:
        heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), event, attempt))
        self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, event, attempt = heapq.heappop(self._heap)
                url, secret = self.url, self.secret
                self._busy += 1
            try:
                status, error = self._post(url, secret, event)
            finally:
                with self._cond:
                    self._busy -= 1
                    ok = status is not None and 200 <= status < 300
                    self.attempts.append(
                        {"event": event["id"], "type": event["type"], "attempt": attempt,
                         "status": status, "error": error, "at": time.time()}
                    )
                    if ok:
                        self.delivered.append(event["id"])
                    elif attempt < self.max_attempts and url:
                        self._push(event, attempt + 1, self.backoff_seconds * 2 ** (attempt - 1))
                    self._cond.notify_all()

    def _post(self, url: str | None, secret: str | None, event: dict[str, Any]) -> tuple[int | None, str | None]:
        if not url:
            return None, "no webhook url configured"
        payload = json.dumps(event, indent=2)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(payload, secret or ""),
        }
        request = urllib.request.Request(url, data=payload.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                return response.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except Exception as exc:  # connection refused, timeout...: retry later
            return None, f"{type(exc).__name__}: {exc}"
