"""Per-process serving state of an inference worker: one SessionPool and one DynamicBatcher,
and the threads that feed them.

Created lazily in the process that runs tasks (after any fork: `worker_process_init` drops a
state inherited from a prefork parent). The inference worker runs `-P threads -c 16`: when it is
ready, a worker consuming `infer.*` queues also starts as many sync-lane threads as its
concurrency (lane.py) and the crash watch (quarantine.py). Lane threads and Celery's pool threads
share one pool and one batcher, so concurrent requests for a version batch together.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutting_down
from django.conf import settings

from inference.runtime.batching import DynamicBatcher
from inference.runtime.sessions import SessionKey, SessionPool
from inference.serving.lane import LaneConsumer, lanes_for_queues
from inference.serving.quarantine import Watch


@dataclass
class WorkerState:
    pid: int
    pool: SessionPool
    batcher: DynamicBatcher


_state: WorkerState | None = None
_lock = threading.Lock()


def state() -> WorkerState:
    global _state
    current = _state
    if current is not None and current.pid == os.getpid():
        return current
    with _lock:
        if _state is None or _state.pid != os.getpid():
            _state = _build()
        return _state


def _build() -> WorkerState:
    pool = SessionPool(
        memory_budget_bytes=settings.INFERENCE_SESSION_MEMORY_BYTES,
        loader=load_artifact,
        worker_processes=settings.INFERENCE_WORKER_PROCESSES,
        use_cuda=True,  # only used when the CUDA provider is present (infer.gpu hosts)
    )
    batcher = DynamicBatcher(
        window_s=settings.INFERENCE_BATCH_WINDOW_MS / 1000,
        max_batch_size=settings.INFERENCE_MAX_BATCH_SIZE,
        enabled=settings.INFERENCE_BATCHING,
        adaptive=settings.INFERENCE_BATCH_ADAPTIVE,
    )
    return WorkerState(pid=os.getpid(), pool=pool, batcher=batcher)


@worker_process_init.connect
def _reset_after_fork(**_: Any) -> None:
    global _state
    _state = None


def load_artifact(key: SessionKey) -> bytes:
    """Decrypt a version's ONNX artifact into memory (SessionPool loader)."""
    from marketplace.artifacts import artifact_read
    from marketplace.models import ModelVersion

    version = ModelVersion.objects.select_related("model__organization").get(pk=key[0])
    if version.onnx_sha256 != key[1]:
        raise LookupError(f"version {version.pk} artifact changed; refusing a stale session key")
    if (version.optimization or {}).get("serving_layout") == "onnx_zip":
        raise NotImplementedError("serving ONNX with external data (onnx_zip) is not supported yet")
    return artifact_read(organization=version.model.organization, name=version.onnx_artifact)


def metrics() -> dict[str, Any]:
    current = state()
    return {"pid": current.pid, "batcher": current.batcher.metrics(), "pool": current.pool.snapshot()}


_serving: tuple[LaneConsumer, Watch] | None = None


@worker_ready.connect
def _start_serving(sender: Any = None, **_: Any) -> None:
    """Start the sync lane and the crash watch in a worker that consumes `infer.*` queues."""
    global _serving
    from inference.serving.tasks import serve

    queues = list(sender.app.amqp.queues.consume_from) if sender is not None else []
    lanes = lanes_for_queues(queues)
    if not lanes or _serving is not None:
        return
    consumer = LaneConsumer(lanes=lanes, threads=sender.controller.concurrency, serve=serve)
    watch = Watch()
    watch.start()  # first sweep at once: counts the runs of the worker this one replaces
    consumer.start()
    _serving = (consumer, watch)


@worker_shutting_down.connect
def _stop_serving(**_: Any) -> None:
    global _serving
    if _serving is not None:
        consumer, watch = _serving
        consumer.stop()
        watch.stop()
        _serving = None
