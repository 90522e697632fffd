"""Language-model generation through the platform vs in-process: TTFT and tokens/s at 1, 4, 16 streams.

Run: .venv/bin/python bench/generation.py [--seconds 3] [--rounds 3] [--new-tokens 64] [--probes 8]
     [--streams 1,4,16] [--quick] [--no-engine] [--keep-logs] [--out STEM] [--report-only]

The model: the ~100M-parameter Llama of tests/llm_models.py (BENCH_100M, random weights, a locally
trained tokenizer), built once with ONNX Runtime GenAI's model builder (fp32, cpu) into
var/bench-generation/ (bench/generation_engine.py's build, shared). Every request is the same kind of
work: a chat prompt of about 128 tokens, greedy (temperature 0), at most --new-tokens new tokens.

Variants, interleaved within each round (platform, og, engine, platform, og, engine ...):
- platform: POST /v1/chat/completions with stream=true and stream_options.include_usage, raw HTTP
  streaming clients in threads (http.client: the cheapest client, since it shares the 2 cores),
  against the real stack bench/serving.py launches (gunicorn gthread web, a Celery inference
  worker whose generation lane runs the continuous-batching Engine, embedded Redis, SQLite), the
  version stored as the conversion pipeline stores it (tests/llm_serving.published_llm) and a buyer
  entitled to its token plan: key auth, rate limits, reservation, lane hop, SSE, metering.
- og: onnxruntime_genai in this process, one og.Generator per stream in its own thread, its
  TokenizerStream decoding each token (the best a single process does without writing a server).
- engine: the platform's own Engine (inference/runtime/generation, max_batch 16) in this process:
  splits the platform's loss into "engine vs og" and "stack around the engine".
- lane (TTFT probes only, a diagnostic): the message the web queues, pushed on the generation lane
  from here and its events read off Redis: the worker's part without HTTP, key, reservation or SSE.

Each stream sends requests back to back for --seconds (at least one), the prompt ids identical
across variants (the web's own prompt_ids for the chat message). Per request: TTFT = request start
-> first content chunk (first token for in-process); per-stream tok/s = (tokens - 1) / (last token -
first token); total tok/s = all tokens / (last token of the round - round start). Tokens are the
usage chunk's completion_tokens for the platform. The table shows medians over rounds (TTFT p99 over
every request of every round); ratios are taken within a round, then the median. TTFT at 1 stream
is also probed apart (--probes short requests per variant and round, the variants in turn, each
leading in turn): the TTFT overhead target is the median of platform - og within a turn. The load generator
shares the 2 cores with the web and worker processes (not pinned); the CPU each process spends per
output token is printed for the platform. Never asserts a time. Results: bench/results/generation.json
and generation.png.
The pieces live in bench/support/: generation_setup.py (the model published, the prompts),
generation_load.py (the four clients, the closed loops, the probes) and generation_report.py
(table, targets and plot); the stack is bench/support/stack.py's, as for bench/serving.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("LLM_RATE_LIMIT_RPM", "1000000")  # before bench.support.stack snapshots the environment
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support.generation_load import (  # noqa: E402
    IDS,
    TEXTS,
    closed_loop,
    engine_client,
    lane_client,
    og_client,
    platform_client,
    ttft_probes,
    with_cpu,
)
from bench.support.generation_report import report  # noqa: E402
from bench.support.generation_setup import PROBE_TOKENS, STREAMS, publish  # noqa: E402
from bench.support.stack import VAR, setup_stack, start_web, start_worker, stop  # noqa: E402 - the shared launcher: same processes, settings and clean-up

RESULTS = ROOT / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0, help="each stream's sending time per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--probes", type=int, default=8, help="TTFT probes per variant and round")
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s, 4 probes")
    parser.add_argument("--no-engine", action="store_true", help="skip the in-process Engine row")
    parser.add_argument("--streams", type=lambda v: [int(x) for x in v.split(",")], default=list(STREAMS),
                        help="concurrencies to run, e.g. 1 (default 1,4,16)")
    parser.add_argument("--out", type=Path, default=RESULTS / "generation", help="results stem (.json, .png)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the web and worker logs (and the database)")
    parser.add_argument("--port", type=int, default=18775)
    parser.add_argument("--report-only", action="store_true", help="redo table and plot from generation.json")
    args = parser.parse_args()
    if args.report_only:
        VAR.rmdir()  # bench.support.stack made it on import; nothing runs here
        report(json.loads(args.out.with_suffix(".json").read_text()), args.out)
        return
    if args.quick:
        args.seconds, args.rounds, args.probes = 2.0, 1, 4
    from bench.generation_engine import build_bench_model

    folder = build_bench_model()
    stack = setup_stack({})
    version, ids, texts = publish(folder)
    IDS.extend(ids)
    TEXTS.extend(texts)
    import onnxruntime_genai as og
    from django.conf import settings

    og_model = og.Model(str(folder))
    engine = None
    if not args.no_engine:
        from inference.runtime.generation import Engine

        engine = Engine(folder, max_batch=settings.LLM_MAX_BATCH)
    web = start_web(args.port)
    worker = start_worker(True)
    variants: dict[str, Callable] = {"platform": platform_client(args.port, stack["secret"], args.new_tokens),
                                     "og": og_client(og, og_model, args.new_tokens)}
    if engine is not None:
        variants["engine"] = engine_client(engine, args.new_tokens)
    probes = {"platform": platform_client(args.port, stack["secret"], PROBE_TOKENS), "og": og_client(
        og, og_model, PROBE_TOKENS), "lane": lane_client(version, PROBE_TOKENS)}  # lane: a diagnostic
    if engine is not None:
        probes["engine"] = engine_client(engine, PROBE_TOKENS)
    probes = {variant: make() for variant, make in probes.items()}  # calls: warm-up and ttft_probes
    pids = {"web": web.pid, "worker": worker.pid, "redis": stack["redis"].pid}
    runs: list[dict] = []
    meta = {"cores": os.cpu_count(), "model": str(folder), "prompt_tokens": [len(i) for i in ids],
            "new_tokens": args.new_tokens, "probes": args.probes, "probe_tokens": PROBE_TOKENS, "seconds": args.seconds, "rounds": args.rounds,
            "llm_max_batch": settings.LLM_MAX_BATCH,
"weights_mb": round(sum(
                p.stat().st_size for p in folder.glob("model.onnx*")) / 1e6)}
    try:
        warm_start = time.perf_counter()
        for variant, make in variants.items():  # loads the worker's engine, warms arenas and caches
            make()(0)
            for i in (1, 2):
                probes[variant](i)
        meta["warm_up_seconds"] = round(time.perf_counter() - warm_start, 1)
        print(f"model {meta['weights_mb']} MB of weights; prompts {min(meta['prompt_tokens'])}-"
              f"{max(meta['prompt_tokens'])} tokens, <= {args.new_tokens} new; warm-up {meta['warm_up_seconds']} s",
              flush=True)
        for round_no in range(args.rounds):
            for streams in args.streams:
                if streams == 1 and args.probes:
                    for variant, records in ttft_probes(probes, args.probes).items():
                        runs.append({"round": round_no, "streams": 1, "variant": variant, "probe": True,
                                     "records": records})
                    tail = {v: statistics.median(x["ttft_ms"] for x in runs[-i]["records"])
                            for i, v in enumerate(reversed(probes), 1)}
                    print(f"round {round_no} TTFT probes x{args.probes}, p50 ms: "
                          + "  ".join(f"{v} {t:.1f}" for v, t in tail.items()), flush=True)
                for variant, make in variants.items():
                    def measure(m=make, s=streams) -> dict:
                        return closed_loop(m, s, args.seconds)

                    result = with_cpu(measure, pids) if variant == "platform" else measure()
                    runs.append({"round": round_no, "streams": streams, "variant": variant, **result})
                    print(f"round {round_no} streams {streams:>2} {variant:8} TTFT p50 {result['ttft_p50_ms']:7.1f} ms"
                          f"  stream {result['stream_tps']:6.1f} tok/s  total {result['total_tps']:6.1f} tok/s  "
                          f"requests {result['requests']} errors {result['errors']}", flush=True)
    finally:
        stop(worker)
        stop(web)
        if engine is not None:
            engine.close()
        from core import embedded_redis

        embedded_redis.stop(stack["redis"])
        import shutil

        if args.keep_logs:
            print(f"logs and database kept in {VAR}")
        else:
            shutil.rmtree(VAR, ignore_errors=True)
    report({"meta": meta, "runs": runs}, args.out)


if __name__ == "__main__":
    main()
