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
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("LLM_RATE_LIMIT_RPM", "1000000")  # before bench.support.stack snapshots the environment
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support.load import cpu_spent, pct  # noqa: E402
from bench.support.stack import VAR, setup_stack, start_web, start_worker, stop  # noqa: E402 - the shared launcher: same processes, settings and clean-up

RESULTS = ROOT / "bench" / "results"
STREAMS = (1, 4, 16)
PROMPT_TOKENS = 128
PROBE_TOKENS = 4  # the TTFT probes' max_tokens: their first token is what they measure
NAME = "bench-vendor.chat"
_WORDS = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "zu", "er", "an", "in", "on", "el"]


# ------------------------------------------------------------------ setup

def publish(folder: Path) -> tuple[object, list[list[int]], list[str]]:
    """The LLM published as tests/llm_serving.published_llm publishes one (built from `folder`),
    the bench buyer subscribed to its token plan; returns the version, prompt ids and texts."""
    from accounts.models import Organization, User
    from inference.serving.v1.params import parse
    from inference.serving.v1.prompting import prompt_ids
    from marketplace.models import ModelVersion, Plan
    from marketplace.services.entitlements import entitlement_subscribe
    from tests import llm_serving

    llm_serving._FOLDERS[("llama", "fp32")] = folder  # its builder's cache: publish this folder, not the tiny one
    model = llm_serving.published_llm(Organization.objects.get(slug="bench-vendor"), "chat")
    entitlement_subscribe(organization=Organization.objects.get(slug="bench-buyer"),
                          user=User.objects.get(email="bench@example.com"), model=model,
                          plan_id=Plan.objects.get(model=model).pk, declared_use="commercial", territory="DE")
    version = ModelVersion.objects.get(model=model)
    rng = random.Random(13)
    ids, texts = [], []
    for _ in range(max(STREAMS)):  # distinct prompts, each grown to about PROMPT_TOKENS with the template
        words: list[str] = []
        while True:
            words.append("".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4))))
            text = " ".join(words)
            params = parse({"model": NAME, "messages": [{"role": "user", "content": text}]}, kind="chat")
            tokens = prompt_ids(version=version, params=params)
            if len(tokens) >= PROMPT_TOKENS:
                break
        ids.append(tokens)
        texts.append(text)
    return version, ids, texts


# ------------------------------------------------------------------ one request, three ways

def platform_client(port: int, secret: str, new: int) -> Callable[[], Callable[[int], dict]]:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

    def make() -> Callable[[int], dict]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        idle_since = [time.perf_counter()]

        def call(i: int) -> dict:
            if time.perf_counter() - idle_since[0] > 1.0:
                conn.close()  # gunicorn closes a connection idle for 2 s: reconnect rather than race it
            body = json.dumps({"model": NAME, "messages": [{"role": "user", "content": TEXTS[i]}], "stream": True,
                               "stream_options": {"include_usage": True}, "temperature": 0, "max_tokens": new})
            start = time.perf_counter()
            conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
            response = conn.getresponse()
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {response.read()[:300]!r}")
            first_chunk = first = last = None
            chunks, usage, seen = 0, None, []
            while line := response.readline():
                seen.append(line)
                if not line.startswith(b"data: "):
                    continue
                now = time.perf_counter()
                data = line[6:].strip()
                if data == b"[DONE]":
                    break
                first_chunk = first_chunk or now
                payload = json.loads(data)
                usage = payload.get("usage") or usage
                if any(c.get("delta", {}).get("content") for c in payload.get("choices") or ()):
                    chunks += 1
                    first, last = first or now, now
            response.read()  # the chunked body's end: the connection is reused
            idle_since[0] = time.perf_counter()
            if usage is None or first is None:
                raise RuntimeError(f"a stream without content or usage: {b''.join(seen)[-600:]!r}")
            return {"start": start, "first": first, "last": last, "tokens": usage["completion_tokens"],
                    "chunks": chunks, "admitted": first_chunk - start}  # the role chunk: after the gateway

        return call

    return make


def lane_client(version, new: int) -> Callable[[], Callable[[int], dict]]:
    """The worker's side alone: the message the web would queue, pushed on the generation lane
    from here, its events read off Redis (no HTTP, key, reservation or SSE)."""
    import uuid

    from inference.serving.lanes import gen_lane, replies

    def make() -> Callable[[int], dict]:
        client = replies.blocking_redis()

        def call(i: int) -> dict:
            rid = f"bench-{uuid.uuid4().hex}"
            start = time.perf_counter()
            gen_lane.push(hardware_class=version.hardware_class, timeout=120, message={
                "rid": rid, "v": version.pk, "sha": version.onnx_sha256, "variant": "fp32", "ids": IDS[i],
                "max_tokens": new, "sampling": {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "seed": None},
                "stop": [], "fairness": version.model.organization_id, "reply": gen_lane.out_key(rid)})
            first_event = first = last = None
            while True:
                popped = client.blpop([gen_lane.out_key(rid)], timeout=120)
                now = time.perf_counter()
                event = json.loads(popped[1]) if popped else {"t": "error", "error": "timeout"}
                if event.get("t") == "token":
                    first_event = first_event or now
                    if event["text"]:
                        first, last = first or now, now
                elif event.get("t") == "done":
                    return {"start": start, "first": first, "last": last, "tokens": event["completion_tokens"],
                            "first_event": first_event - start}
                else:
                    raise RuntimeError(str(event)[:200])

        return call

    return make


def og_client(og, model, new: int) -> Callable[[], Callable[[int], dict]]:
    tokenizer = og.Tokenizer(model)

    def make() -> Callable[[int], dict]:
        def call(i: int) -> dict:
            start = time.perf_counter()
            params = og.GeneratorParams(model)
            params.set_search_options(do_sample=False, max_length=len(IDS[i]) + new)
            generator = og.Generator(model, params)
            stream = tokenizer.create_stream()
            generator.append_tokens(IDS[i])
            first, tokens = None, 0
            while not generator.is_done():
                generator.generate_next_token()
                stream.decode(int(generator.get_next_tokens()[0]))
                tokens += 1
                first = first or time.perf_counter()
            return {"start": start, "first": first, "last": time.perf_counter(), "tokens": tokens}

        return call

    return make


def engine_client(engine, new: int) -> Callable[[], Callable[[int], dict]]:
    from inference.runtime.generation import GenerationRequest

    def make() -> Callable[[int], dict]:
        def call(i: int) -> dict:
            stamps: list[float] = []
            finished: list = []

            def on_event(event) -> None:  # the engine thread: a timestamp, nothing else
                if event.kind == "token":
                    stamps.append(time.perf_counter())
                else:
                    finished.append(event)

            start = time.perf_counter()
            handle = engine.submit(GenerationRequest(prompt_ids=IDS[i], on_event=on_event, max_new_tokens=new,
                                                     temperature=0.0))
            handle.wait()
            return {"start": start, "first": stamps[0], "last": stamps[-1], "tokens": finished[0].completion_tokens}

        return call

    return make


IDS: list[list[int]] = []
TEXTS: list[str] = []


# ------------------------------------------------------------------ load

def closed_loop(make: Callable[[], Callable[[int], dict]], streams: int, seconds: float) -> dict:
    """`streams` threads send requests back to back for `seconds` (at least one each)."""
    records: list[dict] = []
    errors: list[str] = []
    barrier = threading.Barrier(streams + 1)

    def stream(s: int) -> None:
        call = make()
        barrier.wait()
        end, k = time.perf_counter() + seconds, 0
        while True:
            try:
                records.append(call((s + k * streams) % len(IDS)))
            except Exception as exc:  # noqa: BLE001 - counted and shown, not fatal
                errors.append(f"{type(exc).__name__}: {exc}"[-300:])
            k += 1
            if time.perf_counter() >= end:
                return

    threads = [threading.Thread(target=stream, args=(s,)) for s in range(streams)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    if not records:
        raise RuntimeError(f"every request failed: {errors[:3]}")
    ttft = sorted((r["first"] - r["start"]) * 1000 for r in records)
    rates = [(r["tokens"] - 1) / (r["last"] - r["first"]) for r in records if r["tokens"] > 1 and r["last"] > r["first"]]
    result = {"requests": len(records), "errors": len(errors), "error_sample": errors[:2],
              "tokens": sum(r["tokens"] for r in records), "ttft_ms": ttft,
              "ttft_p50_ms": pct(ttft, 0.5), "ttft_p99_ms": pct(ttft, 0.99),
              "stream_tps": statistics.median(rates) if rates else float("nan"),
              "total_tps": sum(r["tokens"] for r in records) / (max(r["last"] for r in records) - start)}
    if "first_event" in records[0]:
        result["first_event_p50_ms"] = statistics.median(r["first_event"] * 1000 for r in records)
    if "admitted" in records[0]:
        result["admitted_p50_ms"] = statistics.median(r["admitted"] * 1000 for r in records)
        result["chunks_per_token"] = sum(r["chunks"] for r in records) / max(1, result["tokens"])
    return result


def ttft_probes(calls: dict[str, Callable[[int], dict]], count: int) -> dict[str, list[dict]]:
    """One short request per variant, `count` times in turn (A B C A B C ...), one stream: TTFT
    pairs taken moments apart, so a machine whose load drifts biases no variant."""
    out: dict[str, list[dict]] = {variant: [] for variant in calls}
    order = list(calls)
    for k in range(count):
        for variant in order[k % len(order):] + order[:k % len(order)]:  # each variant leads in turn
            record = calls[variant](k % len(IDS))
            out[variant].append({"ttft_ms": (record["first"] - record["start"]) * 1000,
                                 **{key: record[key] * 1000 for key in ("admitted", "first_event") if key in record}})
    return out


def with_cpu(measure: Callable[[], dict], pids: dict[str, int]) -> dict:
    result, spent = cpu_spent(measure, pids)
    result["cpu_ms_per_token"] = {k: v / max(1, result["tokens"]) for k, v in spent.items()}
    return result


# ------------------------------------------------------------------ main

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


def per_round(runs: list[dict], key: str, variant: str, streams: int) -> dict[int, float]:
    return {r["round"]: r[key] for r in runs if r["variant"] == variant and r["streams"] == streams}


def median_ratio(num: dict[int, float], den: dict[int, float], op=lambda a, b: a / b) -> float:
    values = [op(num[r], den[r]) for r in num if r in den and den[r]]
    return statistics.median(values) if values else float("nan")


def report(data: dict, out: Path) -> None:
    meta, probe_runs = data["meta"], [r for r in data["runs"] if r.get("probe")]
    runs = [r for r in data["runs"] if not r.get("probe")]
    variants = list(dict.fromkeys(r["variant"] for r in runs))
    rows = []
    print(f"\n{'variant':9} {'streams':>7} {'TTFT p50':>9} {'TTFT p99':>9} {'tok/s/stream':>13} {'tok/s total':>12} "
          f"{'total/og':>9} {'requests':>9}")
    for streams in STREAMS:
        for variant in variants:
            mine = [r for r in runs if r["variant"] == variant and r["streams"] == streams]
            if not mine:
                continue
            pooled = sorted(t for r in mine for t in r["ttft_ms"])
            row = {"variant": variant, "streams": streams,
                   "ttft_p50_ms": statistics.median(r["ttft_p50_ms"] for r in mine), "ttft_p99_ms": pct(pooled, 0.99),
                   "stream_tps": statistics.median(r["stream_tps"] for r in mine),
                   "total_tps": statistics.median(r["total_tps"] for r in mine),
                   "total_ratio_to_og": median_ratio(per_round(runs, "total_tps", variant, streams),
                                                     per_round(runs, "total_tps", "og", streams)),
                   "requests": sum(r["requests"] for r in mine), "errors": sum(r["errors"] for r in mine),
                   "tokens_per_request": sum(r["tokens"] for r in mine) / sum(r["requests"] for r in mine)}
            rows.append(row)
            print(f"{variant:9} {streams:>7} {row['ttft_p50_ms']:7.1f}ms {row['ttft_p99_ms']:7.1f}ms "
                  f"{row['stream_tps']:13.1f} {row['total_tps']:12.1f} {row['total_ratio_to_og']:9.2f} "
                  f"{row['requests']:>9}")
    refs = [v for v in ("og", "engine") if v in variants]  # the in-process references
    targets = {}
    for ref in refs:
        targets[f"ttft_overhead_p50_ms_vs_{ref}_at_1"] = median_ratio(
            per_round(runs, "ttft_p50_ms", "platform", 1), per_round(runs, "ttft_p50_ms", ref, 1), lambda a, b: a - b)
        targets[f"total_tps_ratio_vs_{ref}_at_16"] = median_ratio(
            per_round(runs, "total_tps", "platform", 16), per_round(runs, "total_tps", ref, 16))
    best = {rnd: max([r["total_tps"] for r in runs if r["round"] == rnd and r["streams"] == 16
                      and r["variant"] in refs], default=float("nan")) for rnd in {r["round"] for r in runs}}
    targets["total_tps_ratio_vs_best_in_process_at_16"] = median_ratio(
        per_round(runs, "total_tps", "platform", 16), best)
    print("\ntargets (reported, not asserted):")
    for ref in refs:
        print(f"  TTFT overhead at 1 stream, platform p50 - {ref} p50 (same round): "
              f"{targets[f'ttft_overhead_p50_ms_vs_{ref}_at_1']:.1f} ms   (target <= 15 ms)")
    print(f"  total tok/s at 16 streams, platform / best in-process (same round): "
          f"{targets['total_tps_ratio_vs_best_in_process_at_16']:.2f}x   (target >= 0.8x; "
          + ", ".join(f"vs {v} {targets[f'total_tps_ratio_vs_{v}_at_16']:.2f}x" for v in refs) + ")")
    if probe_runs:
        targets.update(probe_report(probe_runs))
    print("\nplatform, where a request's time and CPU go (medians over rounds):")
    for streams in STREAMS:
        mine = [r for r in runs if r["variant"] == "platform" and r["streams"] == streams]
        if mine:
            cpu = {k: statistics.median(r["cpu_ms_per_token"][k] for r in mine) for k in mine[0]["cpu_ms_per_token"]}
            print(f"  streams {streams:>2}: role chunk (gateway) after {statistics.median(r['admitted_p50_ms'] for r in mine):.1f} ms;"
                  f" CPU ms per output token: " + "  ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "table": rows, "targets": targets,
                                                         "runs": runs + probe_runs}, indent=1))
    plot(rows, variants, out)


def probe_report(probe_runs: list[dict]) -> dict:
    """TTFT at 1 stream from the probes: differences within each A B C turn, then the median."""
    turns: dict[tuple[int, int], dict[str, dict]] = {}
    for run in probe_runs:
        for k, record in enumerate(run["records"]):
            turns.setdefault((run["round"], k), {})[run["variant"]] = record

    def paired(f) -> list[float]:
        values = []
        for turn in turns.values():
            try:
                values.append(f(turn))
            except KeyError:
                pass
        return sorted(values)

    ttft = {v: paired(lambda t, v=v: t[v]["ttft_ms"]) for v in ("platform", "og", "engine", "lane")}
    over = paired(lambda t: t["platform"]["ttft_ms"] - t["og"]["ttft_ms"])
    split = {"platform - engine in-process (the stack around the same engine)": paired(
                 lambda t: t["platform"]["ttft_ms"] - t["engine"]["ttft_ms"]),
             "platform - lane (the web's part: HTTP, key, reservation, SSE)": paired(
                 lambda t: t["platform"]["ttft_ms"] - t["lane"]["ttft_ms"]),
             "gateway: request -> role chunk": paired(lambda t: t["platform"]["admitted"]),
             "web + SSE after the gateway: platform - lane - gateway": paired(
                 lambda t: t["platform"]["ttft_ms"] - t["lane"]["ttft_ms"] - t["platform"]["admitted"]),
             "text held back: lane first text - lane first token event": paired(
                 lambda t: t["lane"]["ttft_ms"] - t["lane"]["first_event"]),
             "lane hop + worker: lane first token event - engine in-process": paired(
                 lambda t: t["lane"]["first_event"] - t["engine"]["ttft_ms"]),
             "engine vs og, both in-process: engine - og": paired(lambda t: t["engine"]["ttft_ms"] - t["og"]["ttft_ms"])}
    print(f"\nTTFT at 1 stream, {len(over)} probes (max_tokens {PROBE_TOKENS}, variants in turn), ms:")
    for variant, values in ttft.items():
        if values:
            print(f"  {variant:9} p50 {pct(values, 0.5):7.1f}  p99 {pct(values, 0.99):7.1f}")
    print(f"  TTFT overhead, platform - og within a turn: p50 {pct(over, 0.5):.1f}  p99 {pct(over, 0.99):.1f}"
          "   (target p50 <= 15 ms)")
    print("where it goes (p50 of the within-turn differences):")
    for label, values in split.items():
        if values:
            print(f"  {label:64} {pct(values, 0.5):7.1f}")
    return {"probe_ttft_p50_ms": {v: pct(x, 0.5) for v, x in ttft.items() if x},
            "probe_ttft_p99_ms": {v: pct(x, 0.99) for v, x in ttft.items() if x},
            "probe_ttft_overhead_vs_og_p50_ms": pct(over, 0.5), "probe_ttft_overhead_vs_og_p99_ms": pct(over, 0.99),
            "probe_ttft_split_p50_ms": {k: pct(x, 0.5) for k, x in split.items() if x}}


def plot(rows: list[dict], variants: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = {"platform": "platform (/v1/chat/completions, SSE)", "og": "onnxruntime_genai in-process (thread/stream)",
              "engine": "platform Engine in-process"}
    for variant in [v for v in variants if v in labels]:
        pts = [r for r in rows if r["variant"] == variant]
        axes[0].plot([r["streams"] for r in pts], [r["ttft_p50_ms"] for r in pts], marker="o", label=labels[variant])
        axes[1].plot([r["streams"] for r in pts], [r["total_tps"] for r in pts], marker="o", label=labels[variant])
    axes[0].set_title("time to first token, p50 (ms)")
    axes[1].set_title("output tokens/s, all streams")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(STREAMS, [str(s) for s in STREAMS])
        ax.set_xlabel("concurrent streams")
        ax.legend(fontsize=8)
    axes[0].set_yscale("log")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)


if __name__ == "__main__":
    main()
