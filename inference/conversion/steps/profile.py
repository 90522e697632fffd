"""Quick latency/throughput/memory profile of an ONNX model on CPU (a few runs, not a bench).

Meant to run in a fresh sandbox child so the resident-memory delta is the model's alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np


def _rss_bytes() -> int:
    import os

    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _batched(example: dict[str, np.ndarray], batch: int) -> dict[str, np.ndarray]:
    """Repeat/trim the example inputs along axis 0 to ``batch`` rows."""
    out = {}
    for name, arr in example.items():
        reps = -(-batch // max(arr.shape[0], 1))
        out[name] = np.concatenate([arr] * reps, axis=0)[:batch]
    return out


def benchmark(
    onnx_path: str,
    signature: dict[str, Any],
    *,
    batch_sizes: Sequence[int] = (1, 8),
    runs: int = 20,
    warmup: int = 3,
    inputs_npz: str | None = None,
    threads: int = 2,
) -> dict[str, Any]:
    """p50/p95 latency and throughput per batch size, session load time, RSS delta."""
    from .examples import inputs_from_signature, load_npz
    from .validate import open_session

    rss_before = _rss_bytes()
    started = time.perf_counter()
    session = open_session(onnx_path, threads=threads)
    load_seconds = time.perf_counter() - started
    rss_loaded = _rss_bytes()
    example = load_npz(inputs_npz) if inputs_npz else None
    if not signature.get("batched", True):
        batch_sizes = (0,)  # fixed shapes: run the model as declared
    per_batch: dict[str, Any] = {}
    for batch in batch_sizes:
        if example is not None and batch:
            inputs = _batched(example, batch)
        else:
            inputs = inputs_from_signature(signature, batch=batch or 1)
        names = [o.name for o in session.get_outputs()]
        for _ in range(warmup):
            session.run(names, inputs)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            session.run(names, inputs)
            times.append(time.perf_counter() - t0)
        p50 = float(np.percentile(times, 50))
        rows = next(iter(inputs.values())).shape[0] if inputs else 1
        per_batch[str(batch or rows)] = {
            "p50_ms": round(p50 * 1000, 3),
            "p95_ms": round(float(np.percentile(times, 95)) * 1000, 3),
            "throughput_per_s": round(rows / p50, 1) if p50 > 0 else None,
            "runs": runs,
        }
    return {
        "session_load_seconds": round(load_seconds, 3),
        "rss_delta_mb": round((rss_loaded - rss_before) / 2**20, 1),
        "rss_after_runs_mb": round(_rss_bytes() / 2**20, 1),
        "threads": threads,
        "batches": per_batch,
    }
