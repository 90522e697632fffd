"""One Redis client per process for counters, caches and health checks."""

from functools import cache

import redis
from django.conf import settings


@cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
    )


def reset_redis() -> None:
    """Forget the cached client (after the URL changed, e.g. in tests)."""
    get_redis.cache_clear()
