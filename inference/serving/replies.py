"""The Redis keys the gateway and the inference worker share, and the blocking client.

A sync call's outputs travel back on a per-request list (`LPUSH` by the worker, `BLPOP` by the
gateway) that expires within a minute: one round trip instead of Celery's result backend, and
the payload never lands anywhere durable.
"""

import redis
from django.conf import settings

from core.redis import OnePerProcess

REPLY_TTL_SECONDS = 60


def reply_key(request_id: str) -> str:
    return f"infer:reply:{request_id}"


def prediction_key(prediction_id: str) -> str:
    return f"pred:{prediction_id}"


def prediction_done_key(prediction_id: str) -> str:
    return f"pred:{prediction_id}:done"


# A client without a read timeout, for BLPOP (core.redis's client times out after 2 s).
blocking_redis = OnePerProcess(lambda: redis.Redis.from_url(
    settings.REDIS_URL, socket_timeout=None, socket_connect_timeout=2, health_check_interval=30))


def reset() -> None:
    blocking_redis.reset()
