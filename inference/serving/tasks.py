"""Celery tasks of the inference worker (`infer.cpu` / `infer.gpu` queues).

`infer` takes a JSON message (ids, the packed inputs, where to reply), never a pickle. It runs
the version's cached session through the dynamic batcher and pushes the outputs to the reply
list the gateway waits on (sync) or stores the prediction and records its usage (async).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np
import onnxruntime as ort
from celery import shared_task

from core.redis import get_redis
from inference.runtime.tensors import TensorError, pack, unpack
from inference.serving import quarantine, replies, worker

log = logging.getLogger(__name__)


def _reply(message: dict, body: dict) -> None:
    """Answer the gateway (sync) and clear the crash mark in one round trip."""
    pipe = get_redis().pipeline(transaction=False)
    if message.get("reply"):
        pipe.lpush(message["reply"], json.dumps(body))
        pipe.expire(message["reply"], replies.REPLY_TTL_SECONDS)
    pipe.delete(replies.attempt_key(message["rid"]))
    pipe.hdel(quarantine.running_key(), message["rid"])
    pipe.execute()


def run(message: dict) -> dict[str, Any]:
    """Run one request; returns {"status": 200, "outputs": packed, "run_ms"} or an error."""
    version_id = message["v"]
    current = worker.state()
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


def _ort_strings(name: str, array: np.ndarray) -> np.ndarray:
    # The wire carries BYTES as bytes; ORT string tensors want str (it would feed repr(bytes)).
    if array.dtype != object:
        return array
    try:
        return np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else b, otypes=[object])(array)
    except UnicodeDecodeError:
        raise TensorError(f"input '{name}': BYTES elements must be UTF-8 text for this model",
                          input_name=name) from None


@shared_task(name="inference.serving.infer", ignore_result=True, acks_late=True)
def infer(message: dict) -> None:
    received = time.time()
    client = get_redis()
    attempt = replies.attempt_key(message["rid"])
    pipe = client.pipeline(transaction=False)
    pipe.incr(attempt)
    pipe.expire(attempt, replies.ATTEMPT_TTL_SECONDS)
    pipe.hset(quarantine.running_key(), message["rid"], quarantine.running_entry(message["v"]))
    attempts = pipe.execute()[0]
    if attempts > 1:
        # The last delivery of this request never finished: its worker died mid-run.
        if quarantine.crash_claim(message["rid"]) and quarantine.version_crash_record(version_id=message["v"]):
            worker.state().pool.evict(message["v"])
        result: dict[str, Any] = {
            "status": 500, "code": "runtime_crash",
            "error": "the model crashed the inference runtime on this request; it was not retried",
        }
    else:
        try:
            result = run(message)
        except TensorError as exc:
            result = {"status": exc.status, "code": "invalid_input", "error": exc.message}
        except ort.capi.onnxruntime_pybind11_state.InvalidArgument as exc:
            # ORT's text may quote tensor contents for some ops: name the type only.
            result = {"status": 400, "code": "invalid_input",
                      "error": f"the model rejected the input ({type(exc).__name__}); check shapes and values"}
        except Exception as exc:  # noqa: BLE001 - answered to the caller, logged without payload
            log.error("inference run of version %s failed: %s", message["v"], type(exc).__name__)
            result = {"status": 500, "code": "runtime_error",
                      "error": f"the model failed to run ({type(exc).__name__}); it was not billed"}
    result["queue_ms"] = max(0.0, (received - message.get("sent", received)) * 1000)
    if message.get("prediction"):
        from inference.predictions import prediction_finish

        prediction_finish(message=message, result=result)
    _reply(message, result)


@shared_task(name="inference.serving.stats")
def stats() -> dict[str, Any]:
    """Batcher and session-pool metrics of the worker process that runs this task."""
    return worker.metrics()


@shared_task(name="inference.serving.noop", ignore_result=True, acks_late=True)
def noop(message: dict) -> None:
    """The floor of the worker path (bench): the same hop and reply, no model."""
    _reply(message, {"status": 200, "outputs": {"tensors": []}, "run_ms": 0.0})
