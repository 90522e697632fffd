"""Front-end floors: what the HTTP or gRPC server alone costs per call, before any gateway or model
work, for the choices issue 14 weighs (an ASGI front end, a v2 gRPC endpoint) against the web
process's gunicorn.

    make bench-front-ends        # = bench/.venvs/kserve/bin/python bench/peers/front_ends.py

Runs in the KServe peer's venv (it has grpcio and uvicorn; the project's install has neither):
- gunicorn: the project's own gunicorn with the web process's settings (gthread, 1 worker,
  32 threads), serving a WSGI app that reads the request and answers;
- uvicorn: KServe's front end, one worker, serving the same as an ASGI app;
- grpcio: its sync server with 32 threads, one unary method, bytes in and out (no protobuf).

One load generator (threads, one connection or channel each, this process) drives them in
interleaved rounds at concurrency 1 and 16 with a 1 KiB request and a 6 KiB answer (about one
MiniLM call as v2 JSON). Prints medians of req/s, p50 and the server's CPU per call; ratios are
per round against gunicorn. Results: bench/results/front_ends.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from bench.peers.front_end_apps import GRPC_METHOD  # noqa: E402
from bench.support.load import closed_loop, cpu_per_request, post_call  # noqa: E402

REQUEST = b"1" * 1024
PATH = "/v2/models/m/infer"


def start(name: str, port: int) -> subprocess.Popen:
    here = Path(sys.executable).parent
    commands = {
        "gunicorn": [str(ROOT / ".venv" / "bin" / "gunicorn"), "bench.peers.front_end_apps:wsgi_app",
                     "-b", f"127.0.0.1:{port}", "-k", "gthread", "-w", "1", "--threads", "32", "--log-level", "warning"],
        "uvicorn": [str(here / "python"), "-m", "uvicorn", "bench.peers.front_end_apps:asgi_app", "--host", "127.0.0.1",
                    "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"],
        "grpcio": [str(here / "python"), "-m", "bench.peers.front_end_apps", str(port)],
    }
    process = subprocess.Popen(commands[name], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            make_call(name, port)()()
            return process
        except Exception:  # noqa: BLE001 - not up yet
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}") from None
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer on port {port}")


def make_call(name: str, port: int):
    if name != "grpcio":
        return post_call(port, PATH, REQUEST, {"Content-Type": "application/json"})

    def make():
        import grpc

        stub = grpc.insecure_channel(f"127.0.0.1:{port}").unary_unary(GRPC_METHOD)
        return lambda: stub(REQUEST, timeout=10) and None
    return make


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--port", type=int, default=18900)
    args = parser.parse_args()
    names = ["gunicorn", "uvicorn", "grpcio"]
    processes = {name: start(name, args.port + i) for i, name in enumerate(names)}
    runs = []
    try:
        for round_no in range(args.rounds):
            order = names[round_no % 3:] + names[:round_no % 3]
            for c in (1, 16):
                for name in order:
                    port = args.port + names.index(name)
                    result = cpu_per_request(lambda n=name, p=port, c=c: closed_loop(make_call(n, p), c, args.seconds),
                                             {name: processes[name].pid})  # fmt: skip
                    runs.append({"round": round_no, "concurrency": c, "server": name, **result})
                    print(f"round {round_no} c={c:<3} {name:9} {result['rps']:8.0f} req/s  p50 "
                          f"{result['p50_ms'] * 1000:6.0f} us  server CPU "
                          f"{result['cpu_ms_per_request'][name] * 1000:5.0f} us/call", flush=True)
    finally:
        for process in processes.values():
            os.killpg(process.pid, 15)
    report(runs, names)


def report(runs: list[dict], names: list[str]) -> None:
    def med(key, **match):
        return statistics.median(r[key] if key != "cpu" else r["cpu_ms_per_request"][r["server"]]
                                 for r in runs if all(r[k] == v for k, v in match.items()))

    summary = {}
    print(f"\n{'server':9} {'c':>3} {'req/s':>8} {'p50 us':>7} {'CPU us/call':>12} {'req/s vs gunicorn':>18}")
    for c in (1, 16):
        for name in names:
            ratio = statistics.median(
                med("rps", round=r, concurrency=c, server=name) / med("rps", round=r, concurrency=c, server="gunicorn")
                for r in sorted({x["round"] for x in runs}))
            row = {"rps": med("rps", concurrency=c, server=name), "p50_us": med("p50_ms", concurrency=c, server=name) * 1000,
                   "cpu_us_per_call": med("cpu", concurrency=c, server=name) * 1000, "rps_vs_gunicorn": ratio}
            summary[f"c{c}/{name}"] = row
            print(f"{name:9} {c:>3} {row['rps']:8.0f} {row['p50_us']:7.0f} {row['cpu_us_per_call']:12.0f} {ratio:18.2f}")
    out = ROOT / "bench" / "results" / "front_ends.json"
    out.write_text(json.dumps({"cores": os.cpu_count(), "python": platform.python_version(),
                               "load_average": os.getloadavg(), "summary": summary, "runs": runs}, indent=1))
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
