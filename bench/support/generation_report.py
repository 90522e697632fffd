"""bench/generation.py's table, targets and plot: medians over rounds, ratios taken within a round,
the TTFT probes' differences within a turn."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from bench.support.generation_setup import PROBE_TOKENS, STREAMS
from bench.support.load import pct


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

