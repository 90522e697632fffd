"""The generation lane: how a language-model request reaches a worker and its tokens come back.

    gateway:  LPUSH gen:lane:<hardware class> {request}           (prompt ids, never the text)
    worker:   BRPOP, generate; RPUSH gen:out:<request id> {event}  as tokens come
    gateway:  BLPOP gen:out:<request id>, one event at a time -> SSE chunks to the buyer
    gateway:  SET gen:cancel:<request id> when the buyer hung up; the worker stops within a step

Events are JSON: {"t": "token", "text": "..."} per generated token (text may be empty while a
stop string is being ruled out), then exactly one {"t": "done", "reason": "stop"|"length"|
"cancelled", "prompt_tokens", "completion_tokens", "compute_ms"} or {"t": "error", "status",
"error"}. If the worker dies, the crash watch pushes {"status": 503, "code": "worker_died",
"error"} (quarantine._settle), which the gateway reads as an error event. Every key expires: the
lane once nobody pushes to it, the output and cancel keys a minute after their last write.
"""

from __future__ import annotations

import json
import time

from core.redis import get_redis

OUT_TTL_SECONDS = 60
LANE_EXPIRY_MARGIN_SECONDS = 120


def lane_key(hardware_class: str) -> str:
    return f"gen:lane:{hardware_class}"


def out_key(request_id: str) -> str:
    return f"gen:out:{request_id}"


def cancel_key(request_id: str) -> str:
    return f"gen:cancel:{request_id}"


def push(*, hardware_class: str, message: dict, timeout: float) -> None:
    message["deadline"] = time.time() + timeout
    key = lane_key(hardware_class)
    pipe = get_redis().pipeline(transaction=False)
    pipe.lpush(key, json.dumps(message, separators=(",", ":")))
    pipe.expire(key, int(timeout) + LANE_EXPIRY_MARGIN_SECONDS)
    pipe.execute()


def cancel(request_id: str) -> None:
    get_redis().set(cancel_key(request_id), 1, ex=OUT_TTL_SECONDS)
