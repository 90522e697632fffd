"""Per-process serving state of an inference worker: one SessionPool, one DynamicBatcher, the
isolated children of suspect versions, and the sync-first `Turns` of its lanes.

Created lazily in the process that runs requests (after any fork: `worker_process_init` drops a
state inherited from a prefork parent). `tasks` runs requests against it; `worker` starts the
threads that feed it.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from celery.signals import worker_process_init
from django.conf import settings

from inference.runtime.batching import DynamicBatcher
from inference.runtime.sessions import SessionKey, SessionPool, threads_per_session
from inference.serving.isolation import Isolation


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
