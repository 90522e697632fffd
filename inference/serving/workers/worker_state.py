"""Per-process serving state of an inference worker: one SessionPool, one DynamicBatcher, the
isolated children of suspect versions, and the sync-first `Turns` of its lanes.

Created lazily in the process that runs requests (after any fork: `worker_process_init` drops a
state inherited from a prefork parent). `tasks` runs requests against it; `worker` starts the
threads that feed it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery.signals import worker_process_init
from django.conf import settings

from inference.runtime.batching import DynamicBatcher
from inference.runtime.external_weights import ModelFile, externalize
from inference.runtime.sessions import SessionKey, SessionPool, threads_per_session
from inference.serving.workers.isolation import Isolation
from inference.serving.workers.quarantine import pid_alive


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
    sweep_orphaned_models()
    pool = SessionPool(
        memory_budget_bytes=settings.INFERENCE_SESSION_MEMORY_BYTES,
        loader=artifact_file,
        worker_processes=settings.INFERENCE_WORKER_PROCESSES,
        use_cuda=True,  # only used when the CUDA provider is present (infer.gpu hosts)
    )
    batcher = DynamicBatcher(
        window_s=settings.INFERENCE_BATCH_WINDOW_MS / 1000,
        max_batch_size=settings.INFERENCE_MAX_BATCH_SIZE,
        enabled=settings.INFERENCE_BATCHING,
        adaptive=settings.INFERENCE_BATCH_ADAPTIVE,
        runs_at_once=settings.INFERENCE_BATCH_RUNS_AT_ONCE,
    )
    isolation = Isolation(load=lambda version_id, sha: artifact_file((version_id, sha)),
                          threads=threads_per_session(settings.INFERENCE_WORKER_PROCESSES))
    turns = Turns(max_wait_s=settings.INFERENCE_ASYNC_MAX_WAIT_MS / 1000)
    return WorkerState(pid=os.getpid(), pool=pool, batcher=batcher, isolation=isolation, turns=turns)


@worker_process_init.connect
def _reset_after_fork(**_: Any) -> None:
    global _state
    _state = None


MODEL_DIR_PREFIX = "mb-onnx-"  # then the loading process's pid and the version's id


def sweep_orphaned_models() -> int:
    """Delete the decrypted models of worker processes that died while loading one (kill -9, the
    OOM killer: no cleanup ran). Their directories name their pid. Returns how many went."""
    swept = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{MODEL_DIR_PREFIX}*-*-*"):
        pid = folder.name.removeprefix(MODEL_DIR_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            swept += 1
    return swept


@contextmanager
def artifact_file(key: SessionKey) -> Iterator[ModelFile]:
    """A version's ONNX artifact as a private file while a session is created from it (the
    SessionPool loader; the isolated child's model). Never whole in memory: decrypted chunk by
    chunk into a 0700 temporary directory (a model with external data, stored as one zip, is
    unpacked there: its data files must sit beside it), then rewritten with its large inline
    weights in a data file beside it, which ONNX Runtime maps instead of copying (see
    runtime/external_weights.py). The directory is deleted on exit; a session that mapped the
    weights keeps them until it is freed."""
    from marketplace.models import ModelVersion

    version = ModelVersion.objects.select_related("model__organization").get(pk=key[0])
    if version.onnx_sha256 != key[1]:
        raise LookupError(f"version {version.pk} artifact changed; refusing a stale session key")
    with tempfile.TemporaryDirectory(prefix=f"{MODEL_DIR_PREFIX}{os.getpid()}-{version.pk}-") as tmp:
        folder = Path(tmp)
        decrypted = _decrypt_into(version, folder)
        # Unguessable names: no tensor of the vendor's can point its external data at them.
        model = folder / f"{secrets.token_hex(8)}.onnx"
        externalize(decrypted, model, model.with_suffix(".weights"))
        decrypted.unlink()
        yield ModelFile(path=model, size=sum(p.stat().st_size for p in folder.iterdir()))


def _decrypt_into(version, folder: Path) -> Path:
    from marketplace.artifacts import artifact_export_to

    organization = version.model.organization
    if (version.optimization or {}).get("serving_layout") != "onnx_zip":
        path = folder / "artifact.onnx"
        artifact_export_to(organization=organization, name=version.onnx_artifact, path=path)
        return path
    bundle = folder / "bundle.zip"
    artifact_export_to(organization=organization, name=version.onnx_artifact, path=bundle)
    with zipfile.ZipFile(bundle) as zf:  # the pipeline's own bundle, authenticated by AES-GCM
        zf.extractall(folder)
    bundle.unlink()
    graphs = list(folder.glob("*.onnx"))
    if len(graphs) != 1:
        raise LookupError(f"version {version.pk}: its bundle holds {len(graphs)} .onnx files, not one")
    return graphs[0]


def metrics() -> dict[str, Any]:
    current = state()
    return {"pid": current.pid, "batcher": current.batcher.metrics(), "pool": current.pool.snapshot()}
