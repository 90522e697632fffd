"""Atomic quota and spend-cap reservations in Redis, with the database as the source of truth.

A counter is a Redis integer per subject and period (calls, or spend in 1/10,000 minor units).
`reserve` checks every limit and increments every counter in one Lua script, so concurrent
calls cannot both take the last unit. A missing counter (first use, expiry, Redis restart) is
rebuilt from the usage ledger with SET NX before reserving: the rebuilt value lacks the
reservations in flight at that moment, which bounds the overshoot by the concurrency.

`release` gives a reservation back when the call did not complete; `adjust` settles the
difference between reserved and actual amounts. Neither lets a counter go below zero nor
creates a counter that is missing (a missing counter is rebuilt from the ledger anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis

from core.redis import get_redis

log = logging.getLogger(__name__)

_RESERVE = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then return {-1, i} end
end
for i = 1, #KEYS do
  local delta = tonumber(ARGV[2 * i - 1])
  local limit = tonumber(ARGV[2 * i])
  if limit >= 0 then
    local current = tonumber(redis.call('GET', KEYS[i]))
    if current + delta > limit or (delta == 0 and current >= limit) then
      return {-2, i, current}
    end
  end
end
local out = {0}
for i = 1, #KEYS do
  out[#out + 1] = redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
end
return out
"""

_ADJUST = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local value = redis.call('INCRBY', KEYS[i], ARGV[i])
    if value < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
  end
end
return 0
"""


@dataclass
class Counter:
    key: str
    delta: int
    limit: int | None  # None: counted, not limited
    rebuild: Callable[[], int]  # the value from the ledger, for a missing counter
    ttl_seconds: int
    label: str = ""  # for the refusal message, e.g. "the organization's spend cap"


@dataclass
class LimitReached(Exception):
    counter: Counter
    current: int


@dataclass
class Taken:
    """What a reservation incremented, to release or settle later."""

    keys: list[str] = field(default_factory=list)
    deltas: list[int] = field(default_factory=list)
    values: list[int] = field(default_factory=list)  # counter values right after reserving


def reserve(counters: Sequence[Counter], *, attempts: int = 4) -> Taken:
    """Check every limit and increment every counter atomically; raises LimitReached.

    Raises redis.RedisError when Redis is unreachable: the caller refuses the call (503)."""
    if not counters:
        return Taken()
    client = get_redis()
    script = client.register_script(_RESERVE)
    keys = [c.key for c in counters]
    argv: list[int] = []
    for c in counters:
        argv += [c.delta, -1 if c.limit is None else c.limit]
    for _ in range(attempts):
        result = script(keys=keys, args=argv)
        status = int(result[0])
        if status == 0:
            return Taken(keys=keys, deltas=[c.delta for c in counters], values=[int(v) for v in result[1:]])
        if status == -2:
            raise LimitReached(counters[int(result[1]) - 1], int(result[2]))
        missing = counters[int(result[1]) - 1]
        client.set(missing.key, max(0, int(missing.rebuild())), nx=True, ex=max(60, missing.ttl_seconds))
    raise redis.RedisError("quota counters kept disappearing while reserving")


def adjust(keys: Sequence[str], deltas: Sequence[int]) -> None:
    """Add `deltas` (negative to release) to the counters that exist, never below zero.

    Best effort: after a Redis outage the counters are rebuilt from the ledger anyway."""
    pairs = [(k, d) for k, d in zip(keys, deltas, strict=True) if d]
    if not pairs:
        return
    try:
        get_redis().register_script(_ADJUST)(keys=[k for k, _ in pairs], args=[d for _, d in pairs])
    except redis.RedisError as exc:
        log.warning("quota counter adjustment skipped: %s", type(exc).__name__)


def release(taken: Taken) -> None:
    adjust(taken.keys, [-d for d in taken.deltas])
