"""Dynamic batcher vs raw `session.run` on a tiny MLP, at 1, 4 and 16 caller threads.

Run: .venv/bin/python bench/runtime_batching.py [--seconds 0.5] [--rounds 5]

Each round runs every variant once, in an interleaved order (A B C ... A B C ...), and the
table shows medians over rounds, so noise on a shared machine hits all variants alike. Callers
are closed-loop: each thread sends its next request as soon as the last one returns. The load
generator shares the cores with ONNX Runtime; nothing is pinned. Never asserts a time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from inference.runtime.batching import DynamicBatcher
from inference.runtime.sessions import SessionPool


def tiny_mlp(hidden: int = 256) -> bytes:
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W1"], ["h0"]),
         helper.make_node("Add", ["h0", "b1"], ["h1"]),
         helper.make_node("Relu", ["h1"], ["h2"]),
         helper.make_node("MatMul", ["h2", "W2"], ["y"])],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(rng.standard_normal((64, hidden)).astype(np.float32), "W1"),
         numpy_helper.from_array(rng.standard_normal(hidden).astype(np.float32), "b1"),
         numpy_helper.from_array(rng.standard_normal((hidden, 10)).astype(np.float32), "W2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def closed_loop(call: Callable[[np.ndarray], object], threads: int, seconds: float) -> dict:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    stop = time.perf_counter() + seconds + 0.05  # replaced after the barrier

    def worker(i: int) -> None:
        x = np.random.default_rng(i).standard_normal((1, 64)).astype(np.float32)
        barrier.wait()
        own = latencies[i]
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                return
            call(x)
            own.append(time.perf_counter() - t0)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    stop = time.perf_counter() + seconds
    barrier.wait()
    for t in pool:
        t.join()
    flat = sorted(x for own in latencies for x in own)
    return {"rps": len(flat) / seconds, "p50_ms": flat[len(flat) // 2] * 1e3,
            "p99_ms": flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=256, help="MLP width; 256 is the tiny "
                        "model where stack overhead dominates, 8192 makes compute matter")
    args = parser.parse_args()

    pool = SessionPool(memory_budget_bytes=1 << 30, loader=lambda key: tiny_mlp(args.hidden))
    session: ort.InferenceSession = pool.get(1, "mlp").session
    batchers = {
        "batcher 2ms": DynamicBatcher(window_s=0.002),
        "batcher 2ms, 2 runs at once": DynamicBatcher(window_s=0.002, runs_at_once=2),
        "batcher 0ms (greedy)": DynamicBatcher(window_s=0.0),
        "batcher disabled": DynamicBatcher(enabled=False),
    }
    variants: dict[str, Callable[[np.ndarray], object]] = {
        "raw session.run": lambda x: session.run(["y"], {"x": x}),
        **{name: (lambda x, b=b: b.run("mlp", session, {"x": x}, ["y"]))
           for name, b in batchers.items()},
    }
    big = np.zeros((16, 64), np.float32)
    results: dict[tuple[str, int], list[dict]] = {}
    for _ in range(args.rounds):
        for threads in (1, 4, 16):
            for name, call in variants.items():
                results.setdefault((name, threads), []).append(
                    closed_loop(call, threads, args.seconds))
        # Reference for what batching can reach: one thread, 16 rows per raw call, in req/s.
        r = closed_loop(lambda x: session.run(["y"], {"x": big}), 1, args.seconds)
        r["rps"] *= 16
        results.setdefault(("raw batched x16 (rows/s)", 1), []).append(r)

    rows = []
    raw = {t: statistics.median(r["rps"] for r in results[("raw session.run", t)])
           for t in (1, 4, 16)}
    print(f"MLP 64-{args.hidden}-10, intra_op_threads={pool.intra_op_threads}, {args.rounds} rounds x {args.seconds}s, "
          "medians; load generator not pinned")
    print(f"{'variant':28} {'threads':>7} {'req/s':>10} {'x raw':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for (name, threads), runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms")}
        ratio = med["rps"] / raw[threads]
        rows.append({"variant": name, "threads": threads, **med, "ratio_to_raw": ratio})
        print(f"{name:28} {threads:>7} {med['rps']:>10.0f} {ratio:>6.2f} "
              f"{med['p50_ms']:>8.3f} {med['p99_ms']:>8.3f}")
    for name, b in batchers.items():
        print(f"{name}: {b.metrics()}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"runtime_batching_h{args.hidden}.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
