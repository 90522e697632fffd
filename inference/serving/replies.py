"""The Redis keys the gateway and the inference worker share, and the blocking client.

A sync call's outputs travel back on a per-request list (`LPUSH` by the worker, `BLPOP` by the
gateway) that expires within a minute: one round trip instead of Celery's result backend, and
the payload never lands anywhere durable.
"""

from functools import cache

import redis
from django.conf import settings

REPLY_TTL_SECONDS = 60


def reply_key(request_id: str) -> str:
    return f"infer:reply:{request_id}"


def prediction_key(prediction_id: str) -> str:
    return f"pred:{prediction_id}"


def prediction_done_key(prediction_id: str) -> str:
    return f"pred:{prediction_id}:done"


@cache
def blocking_redis() -> redis.Redis:
    """A client without a read timeout, for BLPOP (core.redis's client times out after 2 s)."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=None, socket_connect_timeout=2,
                                health_check_interval=30)


def reset() -> None:
    blocking_redis.cache_clear()
