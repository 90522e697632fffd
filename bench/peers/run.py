"""Modelbay against the servers a buyer would run instead, on the same ONNX file, in one run.

Run: make bench-peers [BENCH_ARGS="--rounds 4 --seconds 8"]   (makes the peers' environments first)
     .venv/bin/python bench/peers/run.py [--gpu] [--servers modelbay,bentoml,pytriton,kserve]

all-MiniLM-L6-v2 (real weights, bench/support/models.py), batch 1, sequence 32, served by:
- raw: `InferenceSession.run` in this process with the worker's session options (the limit);
- modelbay: the whole metered path (bench/support/stack.py's launcher: gunicorn 1x32 gthread, an
  inference worker with 16 lane threads and dynamic batching): real API key, entitlement, rate
  limit, quota and spend-cap reservation, ledger entry, receipt headers; KServe v2 JSON;
- bentoml (`@bentoml.service(workers=1)`, its own JSON), pytriton (Triton's server, `@batch`, max
  batch 16; v2 JSON), kserve (`ModelServer(workers=1)`, v2 JSON): bench/peers/*_server.py, each
  with the worker's ONNX Runtime session options, each from its own venv.
Every server's answer is checked against raw ORT before it is timed. Rounds interleave every
server, in an order rotated each round; a closed loop of C callers runs `--seconds` on each.
Tables show medians over rounds and ratios taken within each round (the machine is shared and
noisy: only same-round ratios mean much). The load generator is this process, unpinned, on the
same cores. --gpu: the version on the `infer.gpu` lane, a worker consuming `infer.gpu`, and the
CUDA execution provider for everyone when onnxruntime has it (else it says so and runs on CPU);
on a GPU host, install onnxruntime-gpu into .venv and each bench/.venvs/<peer> first.
Results: bench/results/peers.json (peers-gpu.json) and peers.png; with DATABASE_URL pointing at
PostgreSQL (a database of its own: the bench migrates it and adds its organizations), Modelbay's
ledger writes there and the results are peers-postgresql.json and .png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
from bench.peers import servers  # noqa: E402
from bench.support import load  # noqa: E402
from bench.support.models import example, minilm_path  # noqa: E402
from bench.support.stack import RESULTS, VAR, setup_stack, start_web, start_worker, stop  # noqa: E402

TOLERANCE = 1e-4  # max |difference| from raw ORT on a unit-length embedding


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--servers", default="modelbay," + ",".join(servers.PEERS))
    parser.add_argument("--gpu", action="store_true", help="the infer.gpu lane and the CUDA execution provider")
    parser.add_argument("--port", type=int, default=18800)
    parser.add_argument("--baseline", type=Path, help="another checkout (e.g. `git worktree add` of an earlier "
                        "commit): its web process is timed too, as 'baseline', against the same worker and Redis")
    args = parser.parse_args()
    names = args.servers.split(",")
    levels = [int(c) for c in args.concurrency.split(",")]
    import onnxruntime as ort

    from inference.runtime.sessions import SessionPool

    pool = SessionPool(memory_budget_bytes=1, use_cuda=args.gpu)
    if args.gpu and "CUDAExecutionProvider" not in pool.providers:
        print("--gpu: onnxruntime has no CUDAExecutionProvider here; the gpu lane and every peer run on CPU")
    model_path = minilm_path()
    raw = ort.InferenceSession(str(model_path), pool.session_options(), providers=pool.providers)
    feed = example("minilm")
    expected = raw.run(None, feed)[0]
    processes, targets = [], {}
    stack = None
    try:
        if "modelbay" in names:
            stack = setup_stack({"minilm": model_path.read_bytes()}, hardware_class="gpu" if args.gpu else "cpu")
            web = start_web(args.port)
            worker = start_worker(True, queue="infer.gpu" if args.gpu else "infer.cpu")
            processes += [web, worker]
            targets["modelbay"] = servers.modelbay(args.port, stack["secret"], feed)
            targets["modelbay"].pids = {"web": web.pid, "worker": worker.pid, "redis": stack["redis"].pid}
            if args.baseline:
                baseline = start_web(args.port + 5, checkout=args.baseline.resolve(), name="baseline-web")
                processes.append(baseline)
                targets["baseline"] = servers.modelbay(args.port + 5, stack["secret"], feed)
                targets["baseline"].pids = {"web": baseline.pid, "worker": worker.pid, "redis": stack["redis"].pid}
        for i, name in enumerate(n for n in names if n != "modelbay"):
            port = args.port + 10 * (i + 1)
            processes.append(servers.start_peer(name, port, model_path, gpu=args.gpu))
            targets[name] = servers.peer(name, port, feed)
            targets[name].pids = {name: processes[-1].pid}
        for name, server in targets.items():  # same answer as raw ORT, then warm
            error = float(abs(server.embedding() - expected).max())
            if error > TOLERANCE:
                raise SystemExit(f"{name} answers differently from raw ORT (max |diff| {error:.2e}); not timing it")
            print(f"{name}: output matches raw ORT (max |diff| {error:.1e})", flush=True)
            warm = server.make_call()()
            for _ in range(30):
                warm()
        runs = measure(args, levels, raw, feed, targets)
    finally:
        for process in processes:
            stop(process)
        if stack is not None:
            from core import embedded_redis

            embedded_redis.stop(stack["redis"])
        shutil.rmtree(VAR, ignore_errors=True)
    report(runs, ["raw", *targets], levels, gpu=args.gpu)


def measure(args, levels: list[int], raw, feed, targets: dict[str, servers.Server]) -> list[dict]:
    runs = []
    order = list(targets)
    for round_no in range(args.rounds):
        rotated = order[round_no % len(order):] + order[:round_no % len(order)]
        for c in levels:
            for name in ["raw", *rotated]:
                make = (lambda: (lambda: raw.run(None, feed) and None)) if name == "raw" else targets[name].make_call()
                pids = {} if name == "raw" else targets[name].pids  # raw runs in this process: "load generator"
                result = load.cpu_per_request(lambda m=make, c=c: load.closed_loop(m, c, args.seconds), pids)
                runs.append({"round": round_no, "concurrency": c, "server": name, **result})
                print(f"round {round_no} c={c:<3} {name:9} {result['rps']:7.1f} req/s  p50 {result['p50_ms']:6.2f} ms  "
                      f"p99 {result['p99_ms']:6.2f} ms  errors {result['errors']}", flush=True)
    return runs


def _median(runs: list[dict], key: str, **match) -> float:
    values = [r[key] for r in runs if all(r[k] == v for k, v in match.items())]
    return statistics.median(values) if values else float("nan")


def ratio(runs: list[dict], c: int, num: str, den: str) -> float:
    """Median over rounds of num's req/s over den's, both from the same round."""
    per_round = []
    for r in sorted({x["round"] for x in runs}):
        a, b = _median(runs, "rps", round=r, concurrency=c, server=num), _median(runs, "rps", round=r, concurrency=c, server=den)
        if a == a and b == b and b:  # not NaN
            per_round.append(a / b)
    return statistics.median(per_round) if per_round else float("nan")


def report(runs: list[dict], names: list[str], levels: list[int], *, gpu: bool) -> None:
    rows = []
    print(f"\n{'server':9} {'c':>3} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'x raw':>6} {'modelbay/it':>11}")
    for c in levels:
        for name in names:
            row = {"server": name, "concurrency": c, "rps": _median(runs, "rps", concurrency=c, server=name),
                   "p50_ms": _median(runs, "p50_ms", concurrency=c, server=name),
                   "p99_ms": _median(runs, "p99_ms", concurrency=c, server=name),
                   "ratio_to_raw": ratio(runs, c, name, "raw"),
                   "modelbay_ratio": ratio(runs, c, "modelbay", name) if "modelbay" in names else float("nan")}
            rows.append(row)
            print(f"{name:9} {c:>3} {row['rps']:8.1f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
                  f"{row['ratio_to_raw']:6.2f} {row['modelbay_ratio']:11.2f}")
    print("\nreq/s of the row's server over the column's (same-round ratios, median over rounds):")
    for c in levels:
        print(f"  c={c}: " + " ".join(f"{n:>9}" for n in names))
        for a in names:
            print(f"  {a:>9} " + " ".join(f"{ratio(runs, c, a, b):9.2f}" for b in names))
    print("\nCPU ms per request by process (median over rounds; the load generator runs raw ORT itself):")
    for c in levels:
        for name in names:
            cpus = [r["cpu_ms_per_request"] for r in runs if r["concurrency"] == c and r["server"] == name]
            print(f"  c={c:<3} {name:9} " + "  ".join(f"{k} {statistics.median(x[k] for x in cpus):.2f}"
                                                     for k in cpus[0]))
    database = _database()
    print(f"\nModelbay's database: {database} (DATABASE_URL; unset: the embedded default, SQLite)")
    stem = "peers" + ("-gpu" if gpu else "") + ("-postgresql" if database == "postgresql" else "")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(
        {"cores": os.cpu_count(), "gpu": gpu, "database": database, "load_average": os.getloadavg(), "runs": runs,
         "table": rows}, indent=1))
    plot(rows, names, levels, RESULTS / f"{stem}.png")


def _database() -> str:
    """The vendor of the database Modelbay's ledger wrote to: on PostgreSQL each call's usage
    INSERT is a round trip to another process, on the embedded SQLite a write in the web process."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"] if settings.configured else ""
    return engine.rsplit(".", 1)[-1].replace("sqlite3", "sqlite") or "none"


def plot(rows: list[dict], names: list[str], levels: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(levels), figsize=(5.5 * len(levels), 4), squeeze=False)
    for ax, c in zip(axes[0], levels, strict=True):
        pts = [next(r for r in rows if r["server"] == n and r["concurrency"] == c) for n in names]
        bars = ax.bar(names, [p["rps"] for p in pts], color=["#999" if n == "raw" else "#c33" if n == "modelbay"
                                                              else "#48c" for n in names])
        ax.bar_label(bars, labels=[f"{p['ratio_to_raw']:.2f}x" for p in pts], fontsize=8)
        ax.set_title(f"all-MiniLM-L6-v2, {c} concurrent caller{'s' if c > 1 else ''}: req/s (x raw ORT)")
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
