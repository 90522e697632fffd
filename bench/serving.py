"""Serving overhead and throughput: raw ONNX Runtime vs the full metered API vs a no-op Celery hop.

Run: .venv/bin/python bench/serving.py [--seconds 3] [--rounds 3] [--models tiny,minilm]

What runs where (all on this machine, nothing pinned: the load generator shares the 2 cores,
and the table says what each process spends per API request):
- raw: `InferenceSession.run` in this process, same thread settings as the worker's SessionPool
  (intra-op threads = cores, no spinning); "raw batched" runs 16 rows per call (batching's reach).
- api: POST /v2/models/{name}/infer (binary tensor extension, like tritonclient) to gunicorn
  (gthread) serving config.wsgi, key auth + entitlement + rate limit + quota/spend-cap
  reservation + Celery hop to a real `-P threads -c 16` worker + usage recorded + receipt.
  Each round runs once with the worker's dynamic batching on, once off (a worker restart between).
- noop: the same Celery hop and Redis reply with no model (`inference.serving.noop`).
- bare: bench/support/bare_server.py, the same model run inside a bare WSGI app on the same
  gunicorn settings, with none of the platform (no auth, metering or worker hop): the ceiling a
  Python HTTP server reaches on these cores, read beside the platform's ratio.
Rounds interleave every variant (A B C A B C ...); tables show medians over rounds; ratios are
taken within each round. Overhead at concurrency 1 is per request: Server-Timing total minus
the worker's run time (both server-side), p50/p99 over all requests. Never asserts a time.
Results: bench/results/serving.json and serving.png.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# bench.support.stack sets the stack's environment on import; nothing before it reads settings.
from bench.support import load  # noqa: E402
from bench.support.models import BUILDERS  # noqa: E402
from bench.support.serving_report import CONCURRENCY, report  # noqa: E402
from bench.support.stack import (  # noqa: E402
    RESULTS,
    VAR,
    setup_stack,
    start_bare,
    start_web,
    start_worker,
    stop,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default="tiny,minilm")
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--report-only", action="store_true", help="redo table and plot from serving.json")
    args = parser.parse_args()
    names = args.models.split(",")
    if args.report_only:
        report(json.loads((RESULTS / "serving.json").read_text())["runs"], names)
        return
    onnx_models = {n: BUILDERS[n]() for n in names}
    stack = setup_stack(onnx_models)
    import onnxruntime as ort

    from inference.runtime.sessions import SessionPool

    options = SessionPool(memory_budget_bytes=1).session_options()
    sessions = {n: ort.InferenceSession(b, options, providers=["CPUExecutionProvider"]) for n, b in onnx_models.items()}
    web = start_web(args.port)
    bare = {n: start_bare(args.port + 1 + i, n, b) for i, (n, b) in enumerate(onnx_models.items())}
    runs: list[dict] = []
    try:
        # Rounds outermost, so batching on and off interleave too (on, off, on, off ...): a
        # machine that gets busier or quieter during the run biases neither.
        for round_no, batching in ((r, b) for r in range(args.rounds) for b in (True, False)):
            worker = start_worker(batching)
            try:
                for n in names:  # warm the worker's session and the web process's caches
                    warm = load.api_call(args.port, stack["secret"], f"bench-vendor.{n}", n)()
                    for _ in range(20):
                        warm()
                for c in CONCURRENCY:
                    variants: list[tuple[str, str, Callable]] = [("noop", "-", load.noop_call())]
                    for n in names:
                        variants.append(("raw", n, load.raw_call(sessions[n], n)))
                        variants.append(("api", n, load.api_call(args.port, stack["secret"], f"bench-vendor.{n}", n)))
                        if batching:  # neither depends on the platform's batching: once a round
                            variants.append(("bare", n, load.bare_call(bare[n][1], n)))
                        if c == 16 and batching:
                            variants.append(("raw_batched16", n, load.raw_call(sessions[n], n, rows=16)))
                    for kind, n, make in variants:
                        load.SPANS.clear()
                        if kind == "api":
                            result = load.cpu_per_request(lambda m=make, c=c: load.closed_loop(m, c, args.seconds), {
                                "web": web.pid, "worker": worker.pid, "redis": stack["redis"].pid})
                        elif kind == "bare":
                            result = load.cpu_per_request(lambda m=make, c=c: load.closed_loop(m, c, args.seconds),
                                                     {"bare server": bare[n][0].pid})
                        else:
                            result = load.closed_loop(make, c, args.seconds)
                        if kind == "api" and c == 1:
                            result["spans_p50_ms"] = {k: statistics.median(t[k] for t in load.SPANS) for k in load.SPANS[0]}
                        if kind == "raw_batched16":
                            result["rps"] *= 16  # rows served per second
                        runs.append({"batching": batching, "round": round_no, "concurrency": c,
                                     "kind": kind, "model": n, **result})
                        print(f"batching={batching} round={round_no} c={c} {kind:14} {n:7} "
                              f"p50={result['p50_ms']:.2f}ms rps={result['rps']:.0f} err={result['errors']}",
                              flush=True)
            finally:
                stop(worker)
    finally:
        stop(web)
        for process, _ in bare.values():
            stop(process)
        from core import embedded_redis

        embedded_redis.stop(stack["redis"])
        import shutil

        shutil.rmtree(VAR, ignore_errors=True)
    report(runs, names)


if __name__ == "__main__":
    main()
