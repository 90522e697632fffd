"""The serving bench's load generator: closed loops of callers (threads, one connection each),
the calls they make (raw ORT in-process, the platform's /v2 infer, the bare server, a no-op
worker hop) and the CPU each process spends meanwhile, read from /proc."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.support.models import example

SPANS: list[dict[str, float]] = []  # Server-Timing of every API call at concurrency 1


def closed_loop(make_call: Callable[[], Callable[[], float | None]], threads: int, seconds: float) -> dict:
    """Each thread repeats its call for `seconds`; a call may return a server-side overhead (ms)."""
    latencies: list[float] = []
    overheads: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)
    errors = [0]

    def loop() -> None:
        call = make_call()
        mine, over = [], []
        barrier.wait()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            try:
                extra = call()
            except Exception:  # noqa: BLE001 - counted, not fatal
                errors[0] += 1
                continue
            mine.append((time.perf_counter() - t0) * 1000)
            if extra is not None:
                over.append(extra)
        with lock:
            latencies.extend(mine)
            overheads.extend(over)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    result = {"requests": len(latencies), "rps": len(latencies) / elapsed, "errors": errors[0],
              "p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99)}
    if overheads:
        overheads.sort()
        result.update(overhead_p50_ms=pct(overheads, 0.5), overhead_p99_ms=pct(overheads, 0.99))
    return result


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) of a process and all its descendants alive now, from /proc
    (a gunicorn master and its worker; a PyTriton script, its tritonserver and Python stub)."""
    stats: dict[int, tuple[int, int]] = {}  # pid -> (parent, ticks)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    tree, grew = {pid}, True
    while grew:
        children = {p for p, (parent, _) in stats.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return sum(stats[p][1] for p in tree if p in stats) * 1000 / os.sysconf("SC_CLK_TCK")


def cpu_spent(measure: Callable[[], dict], pids: dict[str, int]) -> tuple[dict, dict[str, float]]:
    """Run `measure`; also return the CPU milliseconds each process (and this load generator) spent."""
    before = {name: cpu_ms(pid) for name, pid in pids.items()}
    own = time.process_time()
    result = measure()
    spent = {name: cpu_ms(pid) - before[name] for name, pid in pids.items()}
    spent["load generator"] = (time.process_time() - own) * 1000
    return result, spent


def cpu_per_request(measure: Callable[[], dict], pids: dict[str, int]) -> dict:
    """Run `measure` and add the CPU milliseconds each process spent per request: where a
    request's cost goes on a machine whose 2 cores the load generator shares."""
    result, spent = cpu_spent(measure, pids)
    result["cpu_ms_per_request"] = {k: v / max(1, result["requests"]) for k, v in spent.items()}
    return result


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def raw_call(session, name: str, rows: int = 1) -> Callable[[], Callable[[], None]]:
    feed = example(name, rows)
    return lambda: (lambda: session.run(None, feed) and None)


def v2_body(name: str) -> tuple[bytes, dict[str, str]]:
    """One row of the model's example as a v2 request with Triton's binary tensor extension."""
    from inference.runtime.tensors import datatype_of

    inputs, blobs = [], []
    for key, array in example(name).items():
        blob = np.ascontiguousarray(array).tobytes()
        inputs.append({"name": key, "datatype": datatype_of(array), "shape": list(array.shape),
                       "parameters": {"binary_data_size": len(blob)}})
        blobs.append(blob)
    header = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
    return header + b"".join(blobs), {"Content-Type": "application/octet-stream",
                                       "Inference-Header-Content-Length": str(len(header))}


def api_call(port: int, secret: str, model: str, name: str) -> Callable[[], Callable[[], float]]:
    body, headers = v2_body(name)
    headers["Authorization"] = f"Bearer {secret}"

    def make() -> Callable[[], float]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def call() -> float:
            conn.request("POST", f"/v2/models/{model}/infer", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(response.status)
            timing = {k: float(v) for k, v in (p.strip().split(";dur=")
                                                    for p in response.getheader("Server-Timing").split(","))}
            SPANS.append(timing)
            return timing["total"] - timing["run"]

        return call

    return make


def post(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """POST on a kept-alive connection; anything but 200 is an error."""
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}: {data[:200]!r}")
    return data


def post_call(port: int, path: str, body: bytes, headers: dict[str, str]) -> Callable[[], Callable[[], None]]:
    """For closed_loop: one connection per caller, POSTing the same body."""
    def make() -> Callable[[], None]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        return lambda: post(conn, path, body, headers) and None

    return make


def bare_call(port: int, name: str) -> Callable[[], Callable[[], None]]:
    body, headers = v2_body(name)
    return post_call(port, "/v2/models/bare/infer", body, headers)


def noop_call() -> Callable[[], Callable[[], None]]:
    import uuid

    from inference.serving.lanes import replies
    from inference.serving.workers.tasks import noop

    def make() -> Callable[[], None]:
        def call() -> None:
            rid = uuid.uuid4().hex
            noop.apply_async(args=[{"rid": rid, "reply": replies.reply_key(rid)}], queue="infer.cpu")
            if replies.blocking_redis().blpop([replies.reply_key(rid)], timeout=30) is None:
                raise TimeoutError

        return call

    return make
