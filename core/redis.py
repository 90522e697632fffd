"""One Redis client per process for counters, caches and health checks."""

from __future__ import annotations

import threading
from collections.abc import Callable

import redis
from django.conf import settings


class OnePerProcess:
    """A Redis client made once, even when threads race for the first one.

    `functools.cache` would let two racing threads each build a client and drop one at once;
    redis-py's `Redis.__del__` then closes that client's pool, and a pipeline still running on
    it fails mid-connect ('NoneType' object has no attribute 'sendall')."""

    def __init__(self, make: Callable[[], redis.Redis]) -> None:
        self._make = make
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()

    def __call__(self) -> redis.Redis:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make()
                client = self._client
        return client

    def reset(self) -> None:
        with self._lock:
            self._client = None


get_redis = OnePerProcess(lambda: redis.Redis.from_url(
    settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30))


def reset_redis() -> None:
    """Forget the client (after the URL changed, e.g. in tests)."""
    get_redis.reset()
