"""What an inference worker runs for each request (`infer.cpu` / `infer.gpu`).

`serve_sync` and `serve_async` take a JSON message (ids, the packed inputs, where to reply),
never a pickle. A run goes through the version's cached session and the dynamic batcher, or,
for a suspect version, through its isolated child (quarantine.py). A sync result goes back on
the reply list the gateway waits on; an async one is finished by async_finish (billed exactly
once if it succeeded). The Celery tasks left here are the worker's metrics and the bench's
no-op hop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import onnxruntime as ort
from celery import shared_task
from django.conf import settings

from core.redis import get_redis
from inference.runtime.tensors import TensorError, pack, unpack
from inference.serving.lanes import replies
from inference.serving.workers import async_finish, quarantine, worker_state

log = logging.getLogger(__name__)


def _reply(message: dict, body: dict) -> None:
    """Answer the gateway (sync) and clear the running mark in one round trip."""
    pipe = get_redis().pipeline(transaction=False)
    if message.get("reply"):
        pipe.lpush(message["reply"], json.dumps(body))
        pipe.expire(message["reply"], replies.REPLY_TTL_SECONDS)
    pipe.hdel(quarantine.running_key(), message["rid"])
    pipe.execute()


def run(message: dict) -> dict[str, Any]:
    """Run one request; returns {"status": 200, "outputs": packed, "run_ms"} or an error."""
    version_id = message["v"]
    current = worker_state.state()
    if version_id in quarantine.suspects:
        return current.isolation.run(message, timeout=settings.INFERENCE_TIMEOUT_SECONDS)
    entry = current.pool.get(version_id, message["sha"], signature=message.get("sig"))
    inputs = {name: _ort_strings(name, array) for name, array in unpack(message["in"]).items()}
    started = time.perf_counter()
    names = message.get("out") or None
    if (message.get("sig") or {}).get("batched", True):
        outputs = current.batcher.run(version_id, entry.session, inputs, names,
                                      max_batch_size=message.get("max_batch") or None)
    else:  # axis 0 is not a batch axis: run alone, in this thread, concurrently with others
        names = names or [o.name for o in entry.session.get_outputs()]
        outputs = dict(zip(names, entry.session.run(names, inputs), strict=True))
    run_ms = (time.perf_counter() - started) * 1000
    return {"status": 200, "outputs": pack(outputs), "run_ms": run_ms}


def _ort_strings(name: str, array):
    # The wire carries BYTES as bytes; ORT string tensors want str (it would feed repr(bytes)).
    import numpy as np

    if array.dtype != object:
        return array
    try:
        return np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else b, otypes=[object])(array)
    except UnicodeDecodeError:
        raise TensorError(f"input '{name}': BYTES elements must be UTF-8 text for this model",
                          input_name=name) from None


def _result(message: dict) -> dict[str, Any]:
    try:
        return run(message)
    except TensorError as exc:
        return {"status": exc.status, "code": "invalid_input", "error": exc.message}
    except ort.capi.onnxruntime_pybind11_state.InvalidArgument as exc:
        # ORT's text may quote tensor contents for some ops: name the type only.
        return {"status": 400, "code": "invalid_input",
                "error": f"the model rejected the input ({type(exc).__name__}); check shapes and values"}
    except Exception as exc:  # noqa: BLE001 - answered to the caller, logged without payload
        log.error("inference run of version %s failed: %s", message["v"], type(exc).__name__)
        return {"status": 500, "code": "runtime_error",
                "error": f"the model failed to run ({type(exc).__name__}); you were not billed"}


def serve_sync(message: dict) -> None:
    """A sync lane request: mark it running, run it, answer the waiting gateway.

    The running mark lets `quarantine` answer the caller at once if this process dies."""
    received = time.time()
    current = worker_state.state()
    current.active.add(message["rid"])
    marks = _thread_marks()
    try:
        with current.turns.sync():
            with marks.running(message):
                result = _result(message)
            result["queue_ms"] = max(0.0, (received - message.get("sent", received)) * 1000)
            _reply(message, result)
    finally:
        current.active.discard(message["rid"])


_local = threading.local()


def _thread_marks() -> quarantine.RunningMarks:
    """The calling lane thread's own RunningMarks (each holds one connection)."""
    marks = getattr(_local, "marks", None)
    if marks is None:
        marks = _local.marks = quarantine.RunningMarks()
    return marks


def serve_async(message: dict) -> None:
    """A queued prediction, taken with its running mark already set (async_lane.take)."""
    current = worker_state.state()
    current.active.add(message["rid"])
    try:
        info = message["prediction"]
        if message.get("deadline", float("inf")) < time.time():
            async_finish.publish_failure(info=info, error="the prediction waited longer than its retention "
                                                          "allows and was not run; you were not billed")
            return
        async_finish.finish(version_id=message["v"], info=info, result=_result(message))
    finally:
        current.active.discard(message["rid"])


@shared_task(name="inference.serving.stats")
def stats() -> dict[str, Any]:
    """Batcher and session-pool metrics of the worker process that runs this task."""
    return worker_state.metrics()


@shared_task(name="inference.serving.noop", ignore_result=True)
def noop(message: dict) -> None:
    """The floor of the worker path (bench): the same hop and reply, no model."""
    _reply(message, {"status": 200, "outputs": {"tensors": []}, "run_ms": 0.0})
