"""What an inference worker runs (`infer.cpu` / `infer.gpu`).

`serve` takes a JSON message (ids, the packed inputs, where to reply), never a pickle. It runs
the version's cached session through the dynamic batcher and pushes the outputs to the reply
list the gateway waits on (sync, from the lane's threads) or stores the prediction and records
its usage (async, the `infer` Celery task).
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


def serve(message: dict) -> None:
    """Run one request and answer it: the sync lane's threads and the async task both come here.

    The running mark lets `quarantine` count the run as a crash if this process dies during it.
    """
    received = time.time()
    get_redis().hset(quarantine.running_key(), message["rid"], quarantine.running_entry(message))
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


# Acknowledged on receipt, not after the run: a run that kills the worker is counted (and its
# prediction failed) by `quarantine` from the running mark, so redelivery adds nothing but a
# second crash; and Celery's Redis transport cannot late-ack from a pool thread after the broker
# restarted (the worker exits with AttributeError in kombu's _connparams: celery#9250).
@shared_task(name="inference.serving.infer", ignore_result=True, acks_late=False)
def infer(message: dict) -> None:
    """An async prediction (sync calls take the lane: see lane.py)."""
    serve(message)


@shared_task(name="inference.serving.stats")
def stats() -> dict[str, Any]:
    """Batcher and session-pool metrics of the worker process that runs this task."""
    return worker.metrics()


@shared_task(name="inference.serving.noop", ignore_result=True)
def noop(message: dict) -> None:
    """The floor of the worker path (bench): the same hop and reply, no model."""
    _reply(message, {"status": 200, "outputs": {"tensors": []}, "run_ms": 0.0})
