"""The Redis keys the gateway and the inference worker share, and the blocking client.

A sync call's outputs travel back on a per-request list (`LPUSH` by the worker, `BLPOP` by the
gateway) that expires within a minute: one round trip instead of Celery's result backend, and
the payload never lands anywhere durable.
"""

import logging
import threading
import time
from collections.abc import Iterator

import redis
from django.conf import settings

from core.redis import OnePerProcess

log = logging.getLogger(__name__)
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


def worker_redis(*, single_connection: bool = False) -> redis.Redis:
    """A worker lane's own client: BRPOP blocks up to one second; the socket timeout only catches a
    silent network. `single_connection`: one fixed connection with no health checks, for a
    command sent now and answered later (a PING sent in between would take its answer)."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=2,
                                health_check_interval=0 if single_connection else 30,
                                single_connection_client=single_connection)


def lane_messages(lanes: list[str], stopping: threading.Event, *, name: str) -> Iterator[bytes]:
    """Messages popped off the lanes until `stopping` is set. Redis going away (restarted, killed)
    is waited out with a backoff up to 2 s, so a lane thread never dies with it."""
    client = worker_redis()
    backoff = 0.1
    while not stopping.is_set():
        try:
            popped = client.brpop(lanes, timeout=1)
        except redis.RedisError as exc:
            log.warning("%s lane lost Redis (%s); reconnecting in %.1fs", name, type(exc).__name__, backoff)
            stopping.wait(backoff)
            backoff = min(backoff * 2, 2.0)
            continue
        backoff = 0.1
        if popped is not None:
            yield popped[1]


class ConsumerThreads:
    """`count` daemon threads running `self._consume` until `stopping` is set: the sync and async
    lanes' consumers. `stop` gives every thread one shared deadline; a request a thread already
    took finishes and is answered."""

    def __init__(self, *, count: int, name: str) -> None:
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._consume, name=f"{name}-{i}", daemon=True)
                        for i in range(count)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _consume(self) -> None:
        raise NotImplementedError
