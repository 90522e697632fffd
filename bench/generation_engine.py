"""The continuous-batching engine vs onnxruntime_genai on the CPU, at 1, 4 and 16 streams.

Run: .venv/bin/python bench/generation_engine.py [--model /tmp/llm/big32] [--new-tokens 64]
     [--rounds 3] [--threads N]

Without --model, a ~100M-parameter Llama (tests/llm_models.py BENCH_100M) is built once into
var/bench-generation/ with the GenAI model builder. Every stream sends the same kind of work: a
128-token prompt, greedy, exactly --new-tokens new tokens (end-of-sequence held off). Variants:

- engine: every stream submitted at once to one Engine(max_batch=16);
- og threads: one og.Generator (batch 1) per stream, each in its own thread;
- og static: one og.Generator with batch_size = streams (og's batching on CPU).

Each variant runs in its own process (og and onnxruntime each bundle an ONNX Runtime with its
own thread pool; side by side they would compete for the cores), after a one-stream warm-up.
Columns: tokens/s = all generated tokens / wall time from the first submit to the last token
(prefill included); decode tok/s = tokens generated after every stream had its first token /
that stretch of time (steady-state decoding); TTFT p50 = submit -> first token, median over
streams. Rounds interleave the variants; the table shows medians over rounds. Never asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT_TOKENS = 128
STREAMS = (1, 4, 16)
VARIANTS = ("engine", "og threads (batch 1 each)", "og static (batch = streams)")


def prompt_ids(stream: int, vocab: int) -> list[int]:
    # Distinct prompts per stream, clear of the special ids 0-3.
    return np.random.default_rng(stream).integers(4, vocab, PROMPT_TOKENS).tolist()


def summary(start: float, stamps: list[list[float]]) -> dict[str, float]:
    """Rates from per-stream token timestamps."""
    end = max(s[-1] for s in stamps)
    all_started = max(s[0] for s in stamps)
    steady = sum(1 for s in stamps for t in s if t > all_started)
    return {"rate": sum(map(len, stamps)) / (end - start),
            "decode": steady / (end - all_started) if end > all_started else float("nan"),
            "ttft": statistics.median(s[0] - start for s in stamps)}  # fmt: skip


def run_engine(engine, streams: int, new: int) -> dict[str, float]:
    from inference.runtime.generation import GenerationRequest

    stamps: list[list[float]] = [[] for _ in range(streams)]
    done = threading.Semaphore(0)

    def listener(i: int):
        def on_event(event) -> None:  # the engine thread: a timestamp and nothing else
            if event.kind == "token":
                stamps[i].append(time.perf_counter())
            else:
                done.release()

        return on_event

    vocab = engine.folder.config.vocab_size
    start = time.perf_counter()
    for i in range(streams):
        engine.submit(GenerationRequest(prompt_ids=prompt_ids(i, vocab), on_event=listener(i), max_new_tokens=new,
                                        min_new_tokens=new, do_sample=False))  # fmt: skip
    for _ in range(streams):
        done.acquire()
    return summary(start, stamps)


def run_og_threads(og, model, vocab: int, streams: int, new: int) -> dict[str, float]:
    stamps: list[list[float]] = [[] for _ in range(streams)]
    barrier = threading.Barrier(streams + 1)

    def stream(i: int) -> None:
        ids = prompt_ids(i, vocab)
        params = og.GeneratorParams(model)
        params.set_search_options(do_sample=False, max_length=len(ids) + new, min_length=len(ids) + new)
        barrier.wait()
        generator = og.Generator(model, params)
        generator.append_tokens(ids)
        while not generator.is_done():
            generator.generate_next_token()
            stamps[i].append(time.perf_counter())

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    return summary(start, stamps)


def run_og_static(og, model, vocab: int, streams: int, new: int) -> dict[str, float]:
    start = time.perf_counter()
    params = og.GeneratorParams(model)
    params.set_search_options(do_sample=False, max_length=PROMPT_TOKENS + new, min_length=PROMPT_TOKENS + new,
                              batch_size=streams)  # fmt: skip
    generator = og.Generator(model, params)
    generator.append_tokens(np.array([prompt_ids(i, vocab) for i in range(streams)], dtype=np.int32))
    steps = []
    while not generator.is_done():
        generator.generate_next_token()
        steps.append(time.perf_counter())
    return summary(start, [steps] * streams)


def child(variant: str, folder: Path, new: int, threads: int | None) -> None:
    """One variant in this process: warm up, then 1, 4 and 16 streams; JSON on stdout."""
    if variant == "engine":
        from inference.runtime.generation import Engine

        engine = Engine(folder, max_batch=max(STREAMS), threads=threads)
        run = lambda streams: run_engine(engine, streams, new)  # noqa: E731
    else:
        import onnxruntime_genai as og

        model = og.Model(str(folder))
        vocab = json.loads((folder / "genai_config.json").read_text())["model"]["vocab_size"]
        fn = run_og_threads if variant.startswith("og threads") else run_og_static
        run = lambda streams: fn(og, model, vocab, streams, new)  # noqa: E731
    run(1)  # warm-up: arenas, thread pools, page cache
    results = {streams: run(streams) for streams in STREAMS}
    if variant == "engine":
        results["memory_bytes"] = engine.memory_bytes()
        engine.close()
    status = Path("/proc/self/status")
    if status.exists():  # peak resident set (Linux): cache pages never touched are not resident
        peak = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
        results["peak_rss_bytes"] = int(peak.split()[1]) * 1024
    print(json.dumps(results))


def build_bench_model() -> Path:
    out = ROOT / "var" / "bench-generation" / "llama-100m-fp32"
    if (out / "genai_config.json").exists():
        return out
    from tests.llm_models import build_causal_lm

    source = build_causal_lm("llama", out.parent / "hf", size="100m")
    built = subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(source), "-o",
                            str(out), "-p", "fp32", "-e", "cpu", "-c", str(out.parent / "cache"),
                            "--extra_options", "hf_token=false"], capture_output=True, text=True)  # fmt: skip
    if built.returncode:
        sys.exit(f"the model builder failed:\n{built.stderr[-2000:]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads for the engine")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = args.model or build_bench_model()
    if args.child:
        child(args.child, folder, args.new_tokens, args.threads)
        return
    weights = sum(p.stat().st_size for p in folder.glob("model.onnx*"))
    print(f"model {folder}: {weights / 1e6:.0f} MB of weights; prompt {PROMPT_TOKENS} tokens, "
          f"{args.new_tokens} new tokens per stream, {args.rounds} rounds")  # fmt: skip
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            command = [sys.executable, __file__, "--child", variant, "--model", str(folder),
                       "--new-tokens", str(args.new_tokens)] + (["--threads", str(args.threads)] if args.threads else [])
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # fmt: skip
            runs[variant].append(json.loads(out.strip().splitlines()[-1]))
    rss = {v: statistics.median(r.get("peak_rss_bytes", 0) for r in runs[v]) / 1e6 for v in VARIANTS}
    print(f"engine memory estimate {runs['engine'][0]['memory_bytes'] / 1e6:.0f} MB (max_batch 16, full context); "
          "peak RSS " + ", ".join(f"{v} {mb:.0f} MB" for v, mb in rss.items()))  # fmt: skip
    print(f"{'variant':30} {'streams':>7} {'tokens/s':>9} {'decode tok/s':>13} {'TTFT p50 ms':>12}")
    median = {(v, s): {k: statistics.median(r[str(s)][k] for r in runs[v]) for k in ("rate", "decode", "ttft")}
              for v in VARIANTS for s in STREAMS}  # fmt: skip
    for streams in STREAMS:
        for variant in VARIANTS:
            m = median[(variant, streams)]
            print(f"{variant:30} {streams:>7} {m['rate']:>9.1f} {m['decode']:>13.1f} {m['ttft'] * 1000:>12.0f}")
    for streams in STREAMS:
        ours = median[("engine", streams)]
        best = {k: max(median[(v, streams)][k] for v in VARIANTS[1:]) for k in ("rate", "decode")}
        print(f"engine / best og at {streams:>2} streams: {ours['rate'] / best['rate']:.2f}x tokens/s, "
              f"{ours['decode'] / best['decode']:.2f}x decode")


if __name__ == "__main__":
    main()
