"""The async lane: how queued predictions reach inference workers, fairly across organizations.

    create:   enqueue()  LPUSH infer:async:q:<hw>:<org> {message}; the org joins the ring
    worker:   take()     one Lua script: next org off the ring, its oldest message, the org back
                         on the ring if it has more, and the running mark, all at once

Why not Celery: a prediction taken by a worker must be either running (with its running mark,
so `quarantine` finishes it if the worker dies) or still queued, never in between. Celery's
Redis transport keeps prefetched messages unacknowledged for the visibility timeout (an hour)
after a kill -9, so predictions sat "queued" long after their worker was gone. One FIFO queue
also let one organization's backlog of hundreds of predictions delay everybody else's; the ring
takes one message per organization in turn.

Messages carry the buyer's inputs only while they are queued; a worker that meets a message
older than its retention fails it unbilled instead of running it, and a queue nobody serves
expires after twice that.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time

import redis

from core.redis import get_redis
from inference.serving.lanes import replies

log = logging.getLogger(__name__)
DOORBELL_LENGTH = 64


def queue_prefix(hardware_class: str) -> str:
    return f"infer:async:q:{hardware_class}:"


def ring_key(hardware_class: str) -> str:
    return f"infer:async:ring:{hardware_class}"


def bell_key(hardware_class: str) -> str:
    return f"infer:async:bell:{hardware_class}"


def running_key() -> str:
    return "infer:running"


def inflight_key(organization_id: int) -> str:
    # The ids in flight, scored by their deadline; it was a counter under "infer:async:inflight:",
    # hence the new name (a persisted counter would make ZADD fail with WRONGTYPE).
    return f"infer:async:inflight-ids:{organization_id}"


_ENQUEUE = """
local n = redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if n == 1 then redis.call('RPUSH', KEYS[2], ARGV[1]) end
redis.call('LPUSH', KEYS[3], 1)
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
return n
"""

# KEYS: ring, running; ARGV: queue prefix, host, pid, now. A queued element is
# "<request id>\n<mark JSON>\n<message JSON>" (compact JSON has no raw newline): the script reads
# the small mark without decoding the inputs, and writes the running mark as the mark's fields
# behind host, pid and time. (cjson would turn empty lists in a decoded message into objects.)
_TAKE = r"""
local org = redis.call('LPOP', KEYS[1])
if not org then return false end
local queue = ARGV[1] .. org
local raw = redis.call('RPOP', queue)
if redis.call('LLEN', queue) > 0 then redis.call('RPUSH', KEYS[1], org) end
if not raw then return false end
local a = string.find(raw, '\n', 1, true)
local b = string.find(raw, '\n', a + 1, true)
local mark = string.sub(raw, a + 1, b - 1)
local entry = '{"host":' .. cjson.encode(ARGV[2]) .. ',"pid":' .. ARGV[3] .. ',"t":' .. ARGV[4] .. ','
  .. string.sub(mark, 2)
redis.call('HSET', KEYS[2], string.sub(raw, 1, a - 1), entry)
return string.sub(raw, b + 1)
"""

# Admission against the organization's in-flight limit. A set of ids, each with its deadline,
# not a counter: a create that fails once admitted (Redis killed in between) cannot take itself
# back out, and a counter would keep that slot taken for as long as the organization keeps
# predicting (each admission renewed its expiry); a member lapses with its prediction's retention,
# after which a queued message would be failed unrun anyway.
# KEYS: the set; ARGV: limit, ttl, now, deadline, prediction id.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n > tonumber(ARGV[1]) then redis.call('ZREM', KEYS[1], ARGV[5]); return -1 end
return n
"""


class InFlightLimit(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"{limit} predictions in flight")


def admit(*, organization_id: int, prediction_id: str, limit: int, ttl_seconds: int) -> int:
    """Count the prediction in flight for the organization, or raise InFlightLimit."""
    key = inflight_key(organization_id)
    now = time.time()
    in_flight = int(get_redis().register_script(_ADMIT)(
        keys=[key], args=[limit, ttl_seconds, now, now + ttl_seconds, prediction_id]))
    if in_flight < 0:
        raise InFlightLimit(limit)
    return in_flight


def done(*, organization_id: int, prediction_id: str, client: redis.Redis | None = None) -> None:
    """The prediction left flight without being queued (its finisher does this in `_PUBLISH`)."""
    (client or get_redis()).zrem(inflight_key(organization_id), prediction_id)


def enqueue(*, hardware_class: str, organization_id: int, message: dict, mark: dict, ttl_seconds: int) -> None:
    """Queue a prediction; `mark` (ids, never inputs) becomes its running mark when taken."""
    queue = queue_prefix(hardware_class) + str(organization_id)
    element = "\n".join([message["rid"], json.dumps(mark, separators=(",", ":")),
                          json.dumps(message, separators=(",", ":"))])
    get_redis().register_script(_ENQUEUE)(
        keys=[queue, ring_key(hardware_class), bell_key(hardware_class)],
        # The queue outlives its messages' deadline, so a worker meets an expired message and fails
        # it (releasing its reservation and in-flight count) rather than the queue vanishing first.
        args=[organization_id, element, 2 * ttl_seconds, DOORBELL_LENGTH],
    )


class Taker:
    """A worker thread's side: take the next message fairly, or wait for the doorbell."""

    def __init__(self, client: redis.Redis, hardware_classes: list[str]) -> None:
        self.client = client
        self.hardware_classes = hardware_classes
        self.script = client.register_script(_TAKE)
        self.host, self.pid = socket.gethostname(), os.getpid()

    def take(self, wait_seconds: float = 1.0) -> dict | None:
        for hardware_class in self.hardware_classes:
            raw = self.script(keys=[ring_key(hardware_class), running_key()],
                              args=[queue_prefix(hardware_class), self.host, self.pid, time.time()])
            if raw:
                return json.loads(raw)
        self.client.blpop([bell_key(h) for h in self.hardware_classes], timeout=wait_seconds)
        return None


class AsyncConsumer(replies.ConsumerThreads):
    """`threads` threads taking async predictions for the worker, each waiting its turn behind
    the sync calls running in this process (`turn`), so a backlog of queued work does not hold
    up buyers who are waiting on an open connection."""

    def __init__(self, *, hardware_classes: list[str], threads: int, serve, turn, client_factory) -> None:
        self.hardware_classes = hardware_classes
        self.serve = serve
        self.turn = turn
        self.client_factory = client_factory
        super().__init__(count=threads, name="async")

    def _consume(self) -> None:
        taker = Taker(self.client_factory(), self.hardware_classes)
        backoff = 0.1
        while not self.stopping.is_set():
            self.turn()  # before taking: a message taken is a message running
            try:
                message = taker.take(wait_seconds=1.0)
            except redis.RedisError as exc:
                log.warning("async lane lost Redis (%s); reconnecting in %.1fs", type(exc).__name__, backoff)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            if message is None:
                continue
            try:
                self.serve(message)
            except Exception as exc:  # noqa: BLE001 - the sweep settles it from its running mark
                log.error("prediction %s could not be finished: %s", message.get("rid"), type(exc).__name__)
