"""bench/serving.py's table and plot: medians over rounds, ratios taken within each round."""

from __future__ import annotations

import json
import os
import statistics

import numpy as np

from bench.support.stack import RESULTS

CONCURRENCY = (1, 4, 16)


def median_of(runs: list[dict], key: str, **match) -> float:
    values = [r[key] for r in runs if all(r.get(k) == v for k, v in match.items()) and key in r]
    return statistics.median(values) if values else float("nan")


def ratio_of(runs: list[dict], key: str, num: dict, den: dict) -> float:
    """Median over rounds of the within-round ratio."""
    ratios = []
    for r in {x["round"] for x in runs}:
        a = median_of(runs, key, round=r, **num)
        b = median_of(runs, key, round=r, **den)
        if b and not np.isnan(a) and not np.isnan(b):
            ratios.append(a / b)
    return statistics.median(ratios) if ratios else float("nan")


def report(runs: list[dict], names: list[str]) -> None:
    rows = []
    print(f"\n{'model':7} {'path':22} {'c':>3} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'rps/raw':>8} {'p50/raw':>8}")
    for n in names:
        for c in CONCURRENCY:
            paths = [("raw", {"kind": "raw", "model": n, "batching": True}),
                     ("api batching on", {"kind": "api", "model": n, "batching": True}),
                     ("api batching off", {"kind": "api", "model": n, "batching": False}),
                     ("noop celery hop", {"kind": "noop", "batching": True})]
            paths.insert(1, ("bare http server", {"kind": "bare", "model": n, "batching": True}))
            if c == 16:
                paths.insert(1, ("raw batched x16 (rows/s)", {"kind": "raw_batched16", "model": n, "batching": True}))
            raw = {"kind": "raw", "model": n, "concurrency": c}
            for label, match in paths:
                m = {**match, "concurrency": c}
                row = {"model": n, "path": label, "concurrency": c,
                       "p50_ms": median_of(runs, "p50_ms", **m), "p99_ms": median_of(runs, "p99_ms", **m),
                       "rps": median_of(runs, "rps", **m),
                       "rps_ratio_to_raw": ratio_of(runs, "rps", {**m, "batching": match["batching"]},
                                                    {**raw, "batching": match["batching"]}),
                       "p50_ratio_to_raw": ratio_of(runs, "p50_ms", {**m}, {**raw, "batching": match["batching"]})}
                if match["kind"] == "api":
                    row["overhead_p50_ms"] = median_of(runs, "overhead_p50_ms", **m)
                    row["overhead_p99_ms"] = median_of(runs, "overhead_p99_ms", **m)
                rows.append(row)
                print(f"{n:7} {label:22} {c:>3} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['rps']:8.0f} "
                      f"{row['rps_ratio_to_raw']:8.2f} {row['p50_ratio_to_raw']:8.2f}")
    print("\nthroughput of the api as a share of the bare http server's (same round, same model):")
    for n in names:
        for c in CONCURRENCY:
            shares = [ratio_of(runs, "rps", {"kind": "api", "model": n, "concurrency": c, "batching": b},
                               {"kind": "bare", "model": n, "concurrency": c, "batching": True}) for b in (True, False)]
            print(f"  {n:7} c={c:<3} batching on {shares[0]:.2f}  off {shares[1]:.2f}")
    print("\nserver-side overhead at concurrency 1 (Server-Timing total - worker run), ms:")
    for n in names:
        for b in (True, False):
            m = {"kind": "api", "model": n, "batching": b, "concurrency": 1}
            print(f"  {n:7} batching {'on ' if b else 'off'}  p50 {median_of(runs, 'overhead_p50_ms', **m):.2f}  "
                  f"p99 {median_of(runs, 'overhead_p99_ms', **m):.2f}   client p50 - raw p50: "
                  f"{median_of(runs, 'p50_ms', **m) - median_of(runs, 'p50_ms', kind='raw', model=n, batching=b, concurrency=1):.2f}")
    print("\nCPU ms per API request by process (median over rounds; 2 cores = 2000 CPU ms a second):")
    for n in names:
        for c in CONCURRENCY:
            for kind, label in (("api", "api, batching on"), ("bare", "bare http server")):
                cpus = [r["cpu_ms_per_request"] for r in runs if r.get("cpu_ms_per_request") and r["model"] == n
                        and r["concurrency"] == c and r["batching"] and r["kind"] == kind]
                if cpus:
                    print(f"  {n:7} c={c:<3} {label:17} " + "  ".join(
                        f"{k} {statistics.median(x[k] for x in cpus):.2f}" for k in cpus[0]))
    print("\nServer-Timing spans at concurrency 1, p50 ms (median over rounds):")
    for n in names:
        for b in (True, False):
            spans = [r["spans_p50_ms"] for r in runs if r.get("spans_p50_ms") and r["model"] == n and r["batching"] == b]
            if spans:
                print(f"  {n:7} batching {'on ' if b else 'off'} " + "  ".join(
                    f"{k} {statistics.median(s[k] for s in spans):.2f}" for k in spans[0]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps({"cores": os.cpu_count(), "runs": runs, "table": rows}, indent=1))
    plot(rows, names)


def plot(rows: list[dict], names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(names), figsize=(6 * len(names), 8), squeeze=False)
    for i, n in enumerate(names):
        for label in ("raw", "bare http server", "api batching on", "api batching off", "noop celery hop"):
            pts = [r for r in rows if r["model"] == n and r["path"] == label]
            axes[0][i].plot([r["concurrency"] for r in pts], [r["rps"] for r in pts], marker="o", label=label)
            axes[1][i].plot([r["concurrency"] for r in pts], [r["p50_ms"] for r in pts], marker="o", label=label)
        axes[0][i].set_title(f"{n}: throughput (req/s)")
        axes[1][i].set_title(f"{n}: p50 latency (ms)")
        for ax in (axes[0][i], axes[1][i]):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("concurrent callers")
            ax.legend(fontsize=8)
        axes[0][i].set_yscale("log")
        axes[1][i].set_yscale("log")
    fig.tight_layout()
    fig.savefig(RESULTS / "serving.png", dpi=110)
