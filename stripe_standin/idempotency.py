"""`Idempotency-Key` handling as Stripe documents it.

- same key + same request  -> the stored response again, with `Idempotent-Replayed: true`
- same key + other params  -> 400 `idempotency_error`
- same key while the first request is still running -> 409 `idempotency_error`
  (the SDK retries 409s, so a client retry racing a slow original still ends up replayed)
Keys live 24 hours by the stand-in's clock. Requests rejected before they ran (injected
500/429, timeouts) store nothing, so a retry with the same key executes for real.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import StripeError

TTL_SECONDS = 24 * 3600


@dataclass
class Stored:
    fingerprint: str
    created: int
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    done: bool = False


class IdempotencyKeys:
    def __init__(self, now: Callable[[], int]) -> None:
        self.now = now
        self.lock = threading.Lock()
        self.entries: dict[str, Stored] = {}

    def begin(self, scope: str, key: str, fingerprint: str) -> Stored | None:
        """Claim `key`; return the stored entry to replay, None to execute, or raise a conflict."""
        with self.lock:
            self._expire()
            entry = self.entries.get(scope + key)
            if entry is None:
                self.entries[scope + key] = Stored(fingerprint=fingerprint, created=self.now())
                return None
            if entry.fingerprint != fingerprint:
                raise StripeError(
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    f"first used with. Try using a key other than '{key}' if you meant to execute a "
                    "different request.",
                    type="idempotency_error",
                )
            if not entry.done:
                raise StripeError(
                    "There is currently another in-progress request using this Stripe-Idempotency-Key "
                    "(that is, another request with the same key). Please retry your request.",
                    status=409,
                    type="idempotency_error",
                )
            return entry

    def finish(self, scope: str, key: str, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self.lock:
            entry = self.entries.get(scope + key)
            if entry is not None:
                entry.status, entry.body, entry.headers, entry.done = status, body, headers, True

    def release(self, scope: str, key: str) -> None:
        """Forget a key whose request never ran, so the client's retry executes it."""
        with self.lock:
            entry = self.entries.get(scope + key)
            if entry is not None and not entry.done:
                del self.entries[scope + key]

    def _expire(self) -> None:
        cutoff = self.now() - TTL_SECONDS
        for k in [k for k, e in self.entries.items() if e.created < cutoff]:
            del self.entries[k]

    def __len__(self) -> int:
        return len(self.entries)
