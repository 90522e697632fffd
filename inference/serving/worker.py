"""Per-process serving state of an inference worker: one SessionPool and one DynamicBatcher,
and the threads that feed them.

Created lazily in the process that runs tasks (after any fork: `worker_process_init` drops a
state inherited from a prefork parent). The inference worker runs `-P threads -c 16`: when it is
ready, a worker consuming `infer.*` queues starts the crash watch (quarantine.py), as many
sync-lane threads as its concurrency (lane.py), INFERENCE_ASYNC_THREADS async-lane threads
(async_lane.py) and the language-model generation service (generation.py). All share one pool and one batcher, so concurrent requests for a version batch
together; async threads take their turn behind running sync calls (`Turns`).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutting_down
from django.conf import settings

from inference.runtime.batching import DynamicBatcher
from inference.runtime.sessions import SessionKey, SessionPool, threads_per_session
from inference.serving.async_lane import AsyncConsumer
from inference.serving.generation import Generation
from inference.serving.isolation import Isolation
from inference.serving.lane import LaneConsumer, lanes_for_queues
from inference.serving.quarantine import Watch


class Turns:
    """Sync calls first: an async thread waits while sync calls run in this process, up to
    `max_wait_s` at a time (so async work still progresses under constant sync load)."""

    def __init__(self, max_wait_s: float) -> None:
        self.max_wait_s = max_wait_s
        self._running = 0
        self._idle = threading.Condition()

    @contextmanager
    def sync(self):
        with self._idle:
            self._running += 1
        try:
            yield
        finally:
            with self._idle:
                self._running -= 1
                if not self._running:
                    self._idle.notify_all()

    def async_turn(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._running == 0, timeout=self.max_wait_s)


@dataclass
class WorkerState:
    pid: int
    pool: SessionPool
    batcher: DynamicBatcher
    isolation: Isolation
    turns: Turns
    active: set[str] = field(default_factory=set)  # request ids running in this process


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
    isolation = Isolation(load=lambda version_id, sha: load_artifact((version_id, sha)),
                          threads=threads_per_session(settings.INFERENCE_WORKER_PROCESSES))
    turns = Turns(max_wait_s=settings.INFERENCE_ASYNC_MAX_WAIT_MS / 1000)
    return WorkerState(pid=os.getpid(), pool=pool, batcher=batcher, isolation=isolation, turns=turns)


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


_serving: tuple[LaneConsumer, AsyncConsumer, Generation, Watch] | None = None


@worker_ready.connect
def _start_serving(sender: Any = None, **_: Any) -> None:
    """Start the crash watch, the sync lane and the async lane in a worker that consumes
    `infer.*` queues."""
    global _serving
    import redis

    from inference.serving.tasks import serve_async, serve_sync

    queues = list(sender.app.amqp.queues.consume_from) if sender is not None else []
    lanes = lanes_for_queues(queues)
    if not lanes or _serving is not None:
        return
    current = state()
    watch = Watch(current.active)
    watch.start()  # first sweep before serving: settles the runs of the worker this one replaces
    sync = LaneConsumer(lanes=lanes, threads=sender.controller.concurrency, serve=serve_sync)
    hardware = [q.removeprefix("infer.") for q in queues if q.startswith("infer.")]
    queued = AsyncConsumer(
        hardware_classes=hardware, threads=settings.INFERENCE_ASYNC_THREADS, serve=serve_async,
        turn=current.turns.async_turn,
        client_factory=lambda: redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10,
                                                    socket_connect_timeout=2, health_check_interval=30))
    generation = Generation(hardware_classes=hardware, active=current.active)
    sync.start()
    queued.start()
    generation.start()
    _serving = (sync, queued, generation, watch)


@worker_shutting_down.connect
def _stop_serving(**_: Any) -> None:
    global _serving
    if _serving is not None:
        sync, queued, generation, watch = _serving
        sync.stop()
        queued.stop()
        generation.stop()
        watch.stop()
        state().isolation.close()
        _serving = None
