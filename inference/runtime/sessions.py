"""Per-process cache of ONNX Runtime sessions for the inference worker.

The worker runs a Celery threads pool, so many threads ask for sessions at once: lookups take
one short lock, while a load (seconds for a large model) holds only that model's lock, so other
models keep serving. Eviction only drops the cache's reference; a thread still running on an
evicted session keeps it alive until its run returns.

Bytes given to the pool are expected to be already decrypted and already checked
(safety/validate run first, in a sandbox, before any session is created for buyers). A loader may
also answer a path, or a context manager that yields bytes or a path only while the session is
created (the inference worker's decrypted temporary file, deleted right after).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import onnxruntime as ort

from inference.runtime.external_weights import ModelFile
from inference.runtime.signature import Signature, example_inputs, signature_from_session

log = logging.getLogger(__name__)

SessionKey = tuple[Any, str]  # (version id, artifact sha256)
# Answers bytes, a path (str, Path, ModelFile), or a context manager that yields one of them.
Loader = Callable[[SessionKey], Any]


def cpu_count() -> int:
    """CPUs this process may use (cgroup/affinity aware where the OS tells us)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_session(worker_processes: int = 1) -> int:
    """Intra-op threads so that processes x threads does not exceed the cores."""
    return max(1, cpu_count() // max(1, worker_processes))


@dataclass
class LoadedSession:
    key: SessionKey
    session: ort.InferenceSession
    signature: Signature
    size_bytes: int  # the budget charge: artifact size x factor
    warmed: bool
    load_seconds: float


@dataclass
class PoolMetrics:
    loads: int = 0
    hits: int = 0
    evictions: int = 0
    load_failures: int = 0
    warmup_failures: int = 0
    load_seconds: float = 0.0


class SessionPool:
    def __init__(
        self,
        *,
        memory_budget_bytes: int,
        loader: Loader | None = None,
        intra_op_threads: int | None = None,
        worker_processes: int = 1,
        use_cuda: bool = False,
        memory_factor: float = 2.5,
        warmup: bool = True,
        allow_spinning: bool = False,
    ) -> None:
        self.memory_budget_bytes = memory_budget_bytes
        self._loader = loader
        self.intra_op_threads = intra_op_threads or threads_per_session(worker_processes)
        self.memory_factor = memory_factor
        self.warmup = warmup
        # Spinning threads burn a core while idle waiting for work; with several sessions and
        # processes on few cores that steals CPU from the run that has work.
        self.allow_spinning = allow_spinning
        self.providers = ["CPUExecutionProvider"]
        if use_cuda and "CUDAExecutionProvider" in ort.get_available_providers():
            self.providers.insert(0, "CUDAExecutionProvider")
        self._lock = threading.Lock()
        self._entries: OrderedDict[SessionKey, LoadedSession] = OrderedDict()
        self._loading: dict[SessionKey, threading.Lock] = {}
        self._used = 0
        self._crashes: dict[Any, int] = {}
        self.metrics = PoolMetrics()

    # -------------------------------------------------------------- lookup

    def get(self, version_id: Any, sha256: str, *, loader: Loader | None = None,
            signature: Signature | None = None) -> LoadedSession:
        """The cached session for this artifact, loading it (once, even under contention)."""
        key: SessionKey = (version_id, sha256)
        with self._lock:
            entry = self._hit(key)
            if entry is not None:
                return entry
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:  # another thread may have finished the load while we waited
                entry = self._hit(key)
                if entry is not None:
                    return entry
            try:
                entry = self._load(key, loader or self._loader, signature)
            except BaseException:
                with self._lock:
                    self._loading.pop(key, None)
                raise
            with self._lock:  # publish and un-mark in one step so nobody loads it twice
                self._loading.pop(key, None)
                self._entries[key] = entry
                self._used += entry.size_bytes
                self._evict(keep=key)
            return entry

    def _hit(self, key: SessionKey) -> LoadedSession | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.metrics.hits += 1
        return entry

    def _evict(self, keep: SessionKey) -> None:
        # Least recently used first; the entry just loaded always stays, even if it alone is
        # over budget, because refusing to serve it would be worse than overshooting.
        while self._used > self.memory_budget_bytes and len(self._entries) > 1:
            victim = next(iter(self._entries))
            if victim == keep:
                self._entries.move_to_end(victim)
                continue
            self._used -= self._entries.pop(victim).size_bytes
            self.metrics.evictions += 1

    # -------------------------------------------------------------- loading

    def session_options(self) -> ort.SessionOptions:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.intra_op_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not self.allow_spinning:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return opts

    def _load(self, key: SessionKey, loader: Loader | None,
              signature: Signature | None) -> LoadedSession:
        if loader is None:
            raise ValueError("SessionPool needs a loader to fetch artifacts it has not cached")
        started = time.perf_counter()
        try:
            loaded = loader(key)
            # A path is used as it is, though pathlib.Path still passes for a context manager.
            manager = isinstance(loaded, AbstractContextManager) and not isinstance(loaded, os.PathLike)
            with loaded if manager else nullcontext(loaded) as source:
                if isinstance(source, bytes | bytearray):
                    size = len(source)
                    session = ort.InferenceSession(bytes(source), self.session_options(),
                                                   providers=self.providers)
                else:
                    size = source.size if isinstance(source, ModelFile) else os.path.getsize(source)
                    session = ort.InferenceSession(os.fspath(source), self.session_options(),
                                                   providers=self.providers)
            signature = signature or signature_from_session(session)
        except Exception:
            with self._lock:
                self.metrics.load_failures += 1
            raise
        warmed = self._warm_up(key, session, signature) if self.warmup else False
        elapsed = time.perf_counter() - started
        with self._lock:
            self.metrics.loads += 1
            self.metrics.load_seconds += elapsed
        return LoadedSession(key, session, signature, int(size * self.memory_factor), warmed,
                             elapsed)

    def _warm_up(self, key: SessionKey, session: ort.InferenceSession,
                 signature: Signature) -> bool:
        # The first run allocates arenas and picks kernels; doing it here keeps that cost off
        # a buyer's first request. A model whose dims need specific values may reject our
        # zeros; that is not a reason to refuse serving it, so we only log and count.
        try:
            session.run(None, example_inputs(signature))
            return True
        except Exception as exc:  # noqa: BLE001 - any ORT failure means "not warmed"
            log.warning("warm-up run failed for %s: %s", key[0], type(exc).__name__)
            with self._lock:
                self.metrics.warmup_failures += 1
            return False

    # -------------------------------------------------------------- bookkeeping

    def evict(self, version_id: Any) -> int:
        """Drop every cached session of a version (e.g. quarantined or unpublished)."""
        with self._lock:
            victims = [k for k in self._entries if k[0] == version_id]
            for k in victims:
                self._used -= self._entries.pop(k).size_bytes
                self.metrics.evictions += 1
            return len(victims)

    def record_crash(self, version_id: Any) -> int:
        """Count a failed run of this version in this process; returns the new count.

        Python-level failures only: a segfault takes the process (and this counter) with it,
        so the quarantine decision must use a counter kept outside the worker (Django/Redis).
        """
        with self._lock:
            self._crashes[version_id] = self._crashes.get(version_id, 0) + 1
            return self._crashes[version_id]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            m = self.metrics
            return {
                "loads": m.loads, "hits": m.hits, "evictions": m.evictions,
                "load_failures": m.load_failures, "warmup_failures": m.warmup_failures,
                "load_seconds": round(m.load_seconds, 4), "sessions": len(self._entries),
                "used_bytes": self._used, "budget_bytes": self.memory_budget_bytes,
                "intra_op_threads": self.intra_op_threads, "providers": list(self.providers),
            }

    def __contains__(self, key: SessionKey) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
