"""SECURITY rows 12, 25 and 26 through real worker processes."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import onnx
import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from onnx import TensorProto, helper, numpy_helper

from billing.models import Notification, UsageEvent
from core import embedded_redis
from core.redis import get_redis, reset_redis
from inference import gateway
from inference.serving import quarantine, replies
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


@pytest.mark.parametrize("visibility_timeout", ["2", "3600"], ids=["seen-on-redelivery", "seen-by-restarted-worker"])
def test_a_version_whose_runs_kill_the_worker_is_quarantined_not_redelivered_forever(
        vendor, buyer, fresh_serving_caches, start_worker, settings, visibility_timeout):
    model = Model.objects.create(organization=vendor.organization, slug="crashy", name="Crashy",
                                 visibility="public", status="published")
    version = ready_version(model, onnx_bytes=slow_onnx())
    ModelVersion.objects.filter(pk=version.pk).update(signature={
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 1]}], "batched": False})
    env = worker_env(CELERY_VISIBILITY_TIMEOUT=visibility_timeout, INFERENCE_QUARANTINE_AFTER_CRASHES="1")
    first = start_worker(queues="infer.cpu", concurrency=2, name="doomed", env=env)
    settings.INFERENCE_TIMEOUT_SECONDS = 6
    responses = []
    caller = threading.Thread(target=lambda: (responses.append(
        post_infer(oip_client(vendor), "vendor-co.crashy", body([[1.0]]))), connection.close()))
    caller.start()
    deadline = time.monotonic() + 30
    while not list(get_redis().scan_iter("infer:attempt:*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(get_redis().scan_iter("infer:attempt:*")), "the run never started"
    first.kill()  # what a segfault in the runtime does: the whole worker process dies mid-run
    caller.join()
    assert responses[0].status_code == 504
    assert "not billed" in responses[0].json()["error"]

    second = start_worker(queues="infer.cpu", concurrency=2, name="survivor", env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        version.refresh_from_db()
        if version.status == ModelVersion.Status.QUARANTINED:
            break
        time.sleep(0.2)
    assert version.status == ModelVersion.Status.QUARANTINED and version.crash_count == 1
    staff_alert = Notification.objects.get(organization=None, kind="version_quarantined")
    assert "vendor-co.crashy" in staff_alert.message
    if visibility_timeout == "2":
        time.sleep(3)  # past another visibility timeout: the poisoned request is not run again
        assert not list(get_redis().scan_iter("infer:attempt:*"))
        assert get_redis().llen("infer.cpu") == 0 and not get_redis().hlen("unacked")
    assert not get_redis().hlen(quarantine.running_key())
    assert second.process.poll() is None, "the worker survived"
    version.refresh_from_db()
    assert version.crash_count == 1
    gateway.resolve_cache_clear()
    pinned = post_infer(oip_client(buyer), "vendor-co.crashy", body([[1.0]]), version="1.0.0")
    assert pinned.status_code == 503 and "quarantined" in pinned.json()["error"]
    assert UsageEvent.objects.count() == 0


@pytest.fixture
def restartable_redis(request):
    """Lets a test restart the embedded Redis; the replacement runs until the session ends."""
    if not settings.REDIS_URL.startswith("unix://"):
        pytest.skip("restarts only the embedded Redis")

    def restart(down_seconds: float) -> None:
        try:
            get_redis().shutdown(nosave=True)
        except Exception:  # noqa: BLE001 - the server closes the connection as it exits
            pass
        time.sleep(down_seconds)
        process = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, data_dir=settings.VAR_DIR / "redis-restarted")
        request.config.add_cleanup(lambda: embedded_redis.stop(process))

    return restart


def test_redis_restart_under_load_loses_no_acknowledged_usage(buyer, tiny, infer_worker, restartable_redis):
    subscribe(buyer, tiny, "payg")
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
        for t in threads:
            t.start()
        time.sleep(3)
        before = len(outcomes)
        restartable_redis(down_seconds=1.0)
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
