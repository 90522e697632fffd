"""Injected failures for resilience tests.

A rule matches requests whose path starts with `path_prefix` (and `method`, if given),
fires with `probability` (seeded RNG, so runs are reproducible) at most `count` times:

- `error_500`            500 api_error before the request runs (the SDK retries it)
- `error_429`            429 lock_timeout with `Stripe-Should-Retry: true` (the SDK retries it)
- `error_429_rate_limit` 429 rate_limit without the retry hint (the SDK raises RateLimitError)
- `timeout`              sleeps `delay_seconds` (default 10) then drops the connection, unexecuted
- `drop_after_commit`    executes the request, stores its idempotent result, then closes the
                         connection without answering (the client sees a connection error)
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

MODES = {"error_500", "error_429", "error_429_rate_limit", "timeout", "drop_after_commit"}


@dataclass
class FaultRule:
    path_prefix: str
    mode: str
    probability: float = 1.0
    count: int | None = None
    seed: int | None = None
    method: str | None = None
    delay_seconds: float = 10.0
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown fault mode {self.mode!r}; use one of {sorted(MODES)}")
        self._rng = random.Random(self.seed)

    def matches(self, method: str, path: str) -> bool:
        if not path.startswith(self.path_prefix):
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        if self.count is not None and self.fired >= self.count:
            return False
        return self._rng.random() < self.probability

    def describe(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_rng", None)
        return data


class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[FaultRule] = []

    def set(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        parsed = [FaultRule(**{k: v for k, v in r.items() if k != "fired"}) for r in rules]
        with self.lock:
            self.rules = parsed
        return self.describe()

    def add(self, **rule: Any) -> None:
        with self.lock:
            self.rules.append(FaultRule(**rule))

    def clear(self) -> None:
        with self.lock:
            self.rules = []

    def pick(self, method: str, path: str) -> FaultRule | None:
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.fired += 1
                    return rule
        return None

    def describe(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.describe() for r in self.rules]
