"""The sync lane: how a buyer's synchronous call reaches an inference worker and comes back.

    gateway:  LPUSH infer:lane:<hardware class> {request}; BLPOP infer:reply:<request id>
    worker:   BRPOP (one of its consumer threads) -> run -> LPUSH infer:reply:<request id>

The gateway's two commands travel in one pipeline: a call costs one round trip plus the wait.

A sync call is a conversation with a caller who is holding a connection open, so it does not
need what a Celery message carries for durable work (acks, redelivery after an hour, retries,
task state): a request whose worker dies is answered by the gateway's timeout, unbilled, and its
crash is counted by `quarantine` from the running mark. Going through Celery's producer,
consumer, task tracer and late ack cost more CPU than the model on small models (bench/serving.py
measured a no-op Celery round trip at ~2.5 ms), so the consumer threads live *inside* the Celery
inference worker (started on `worker_ready`, for the `infer.*` queues it consumes) and share its
session pool and batcher; async predictions, which are durable work, stay Celery tasks.

Consumers survive a Redis restart: a lost connection is logged and retried with backoff, and
redis-py reconnects on the next command.
"""

from __future__ import annotations

import json
import logging
import time

from inference.serving.lanes import replies

log = logging.getLogger(__name__)
QUEUE_PREFIX = "infer."
LANE_EXPIRY_MARGIN_SECONDS = 60


def lane_key(hardware_class: str) -> str:
    return f"infer:lane:{hardware_class}"


def request(*, hardware_class: str, message: dict, timeout: float) -> bytes | None:
    """Hand a request to the workers of a hardware class and wait up to `timeout` for the reply
    (None: no reply in time; workers skip the request once its deadline passed).

    LPUSH and BLPOP go in one pipeline: Redis runs them in order on this connection, so the
    call costs one round trip plus the wait."""
    message["deadline"] = time.time() + timeout
    key = lane_key(hardware_class)
    pipe = replies.blocking_redis().pipeline(transaction=False)
    pipe.lpush(key, json.dumps(message, separators=(",", ":")))
    # With no worker popping, requests (buyer inputs) would wait in Redis for one to come: the
    # whole list goes once nothing has been pushed for longer than a request can live.
    pipe.expire(key, int(timeout) + LANE_EXPIRY_MARGIN_SECONDS)
    pipe.blpop([message["reply"]], timeout=timeout)
    popped = pipe.execute()[2]
    return popped[1] if popped else None


def lanes_for_queues(queues: list[str]) -> list[str]:
    """The lanes a worker consuming these Celery queues serves (`infer.cpu` -> infer:lane:cpu)."""
    return [lane_key(q.removeprefix(QUEUE_PREFIX)) for q in queues if q.startswith(QUEUE_PREFIX)]


class LaneConsumer(replies.ConsumerThreads):
    """`threads` threads, each popping one request at a time from `lanes` and serving it.

    Concurrent requests for one version meet in the worker's dynamic batcher, exactly as Celery
    pool threads did; one thread per expected concurrent caller keeps batches full.
    """

    def __init__(self, *, lanes: list[str], threads: int, serve) -> None:
        self.lanes = lanes
        self.serve = serve
        self.expired = 0  # requests whose caller had given up before a thread got to them
        super().__init__(count=threads, name="lane")

    def start(self) -> None:
        super().start()
        log.info("serving %s with %s lane threads", ", ".join(self.lanes), len(self.threads))

    def _consume(self) -> None:
        for raw in replies.lane_messages(self.lanes, self.stopping, name="sync"):
            message = json.loads(raw)
            if message.get("deadline", float("inf")) < time.time():
                self.expired += 1  # the gateway already answered 504 and released the reservation
                continue
            try:
                self.serve(message)
            except Exception as exc:  # noqa: BLE001 - the caller times out, unbilled; never log payloads
                log.error("sync request %s could not be served: %s", message.get("rid"), type(exc).__name__)
