"""Whole inference calls through a real Celery worker (threads pool) on the real broker."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from urllib.parse import urlsplit

import numpy as np
import pytest
import tritonclient.http as triton

from billing.models import UsageEvent
from core.redis import get_redis
from inference.serving.lanes import lane
from inference.serving.workers.tasks import stats
from marketplace.models import ModelVersion
from tests.inference.serving import body, expected, oip_client, post_infer, subscribe
from tests.workers import worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
NAME = "vendor-co.tiny"


def test_n_successful_calls_make_n_usage_events_with_the_plan_price(buyer, tiny, infer_worker):
    subscribe(buyer, tiny, "payg")  # 2 minor units a call
    client = oip_client(buyer)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = rng.standard_normal((3, 4)).astype(np.float32)
        response = post_infer(client, NAME, body(x))
        assert response.status_code == 200, response.content
        out = response.json()["outputs"][0]
        assert out["name"] == "y" and out["shape"] == [3, 2]
        np.testing.assert_allclose(np.array(out["data"], dtype=np.float32).reshape(3, 2), expected(x), rtol=1e-6)
        assert response["X-Modelbay-Units"] == "12"
        assert response["X-Modelbay-Cost"] == "0.02 USD"
        assert response["X-Modelbay-Quota-Remaining"] == "unlimited"
        timing = dict(part.strip().split(";dur=") for part in response["Server-Timing"].split(","))
        assert {"auth", "admit", "decode", "reserve", "queue", "run", "record", "total"} <= set(timing)
        assert float(timing["total"]) >= float(timing["run"])
    events = UsageEvent.objects.filter(organization=buyer.organization)
    assert events.count() == 5
    assert sum(e.amount_minor for e in events) == Decimal(10)
    assert {e.units for e in events} == {12}
    assert all(e.api_key_id == buyer.api_key.pk and e.currency == "usd" for e in events)


def test_free_plan_counts_down_the_quota(buyer, tiny, infer_worker):
    subscribe(buyer, tiny, "free")  # 100 calls a month
    client = oip_client(buyer)
    remaining = [post_infer(client, NAME, body([[1, 2, 3, 4]]))["X-Modelbay-Quota-Remaining"] for _ in range(3)]
    assert remaining == ["99", "98", "97"]
    assert UsageEvent.objects.filter(amount_minor=0).count() == 3


def test_the_owner_calls_its_own_model_unbilled(vendor, tiny, infer_worker):
    response = post_infer(oip_client(vendor), NAME, body([[1, 2, 3, 4]]))
    assert response.status_code == 200
    assert response["X-Modelbay-Cost"] == "0 USD"
    assert UsageEvent.objects.count() == 0


def test_a_platform_side_failure_is_not_billed(buyer, tiny, infer_worker):
    subscribe(buyer, tiny, "payg")
    # The artifact went missing from storage: the worker cannot load the session.
    ModelVersion.objects.filter(model=tiny).update(onnx_artifact=f"artifacts/{tiny.organization_id}/gone",
                                                   onnx_sha256="0" * 64)
    response = post_infer(oip_client(buyer), NAME, body([[1, 2, 3, 4]]))
    assert response.status_code == 500
    assert "not billed" in response.json()["error"]
    assert UsageEvent.objects.count() == 0


def test_pinned_versions_are_served_and_unknown_ones_are_404(buyer, tiny, infer_worker):
    subscribe(buyer, tiny, "payg")
    client = oip_client(buyer)
    response = post_infer(client, NAME, body([[1, 2, 3, 4]]), version="1.0.0")
    assert response.status_code == 200
    assert response.json()["model_version"] == "1.0.0"
    assert post_infer(client, NAME, body([[1, 2, 3, 4]]), version="7.0.0").status_code == 404


def test_tritonclient_gets_the_outputs_of_a_local_onnxruntime_run(buyer, tiny, infer_worker, live_server):
    subscribe(buyer, tiny, "payg")
    client = triton.InferenceServerClient(url=urlsplit(live_server.url).netloc)
    auth = {"Authorization": f"Bearer {buyer.secret}"}
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(NAME, headers=auth)
    assert client.get_model_metadata(NAME, headers=auth)["platform"] == "onnxruntime_onnx"
    assert client.get_model_metadata(NAME, "1.0.0", headers=auth)["versions"] == ["1.0.0"]
    assert client.is_model_ready(NAME, "1.0.0", headers=auth)
    server = client.get_server_metadata()
    assert server["name"] == "modelbay" and "binary_tensor_data" in server["extensions"]
    for version in ("", "1.0.0"):
        config = client.get_model_config(NAME, version, headers=auth)
        # Batched on axis 0: Triton states the dims without it, and the batch size the worker forms.
        assert config["max_batch_size"] == 32 and config["platform"] == "onnxruntime_onnx"
        assert config["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": [4]}]
        assert config["output"] == [{"name": "y", "data_type": "TYPE_FP32", "dims": [2]}]
        assert config["dynamic_batching"]["max_queue_delay_microseconds"] == 2000
        assert config["instance_group"] == [{"kind": "KIND_CPU", "count": 2}]  # batches run at once
    with pytest.raises(triton.InferenceServerException, match="no model"):
        client.get_model_config("vendor-co.nope", headers=auth)
    x = np.random.default_rng(7).standard_normal((5, 4)).astype(np.float32)
    for binary in (False, True):
        tensor = triton.InferInput("x", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary)
        result = client.infer(NAME, [tensor], outputs=[triton.InferRequestedOutput("y", binary_data=binary)],
                              headers=auth, request_id="req-1")
        np.testing.assert_array_equal(result.as_numpy("y"), expected(x))
        assert result.get_response()["id"] == "req-1"
    assert UsageEvent.objects.count() == 2


def test_binary_tensor_extension_round_trips_exact_bytes(buyer, tiny, infer_worker):
    subscribe(buyer, tiny, "payg")
    x = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    header = (b'{"inputs":[{"name":"x","datatype":"FP32","shape":[2,4],"parameters":{"binary_data_size":32}}],'
              b'"outputs":[{"name":"y","parameters":{"binary_data":true}}]}')
    response = oip_client(buyer).post(f"/v2/models/{NAME}/infer", data=header + x.tobytes(),
                                      content_type="application/octet-stream",
                                      HTTP_INFERENCE_HEADER_CONTENT_LENGTH=str(len(header)))
    assert response.status_code == 200, response.content
    length = int(response["Inference-Header-Content-Length"])
    raw = response.content[length:]
    assert raw == expected(x).astype("<f4").tobytes()


def test_concurrent_requests_are_batched_and_each_caller_gets_its_own_outputs(buyer, tiny, start_worker):
    # A fixed 20 ms window: the tiny model runs in microseconds, so with the adaptive window
    # requests only batch when the machine is slow enough for them to pile up.
    start_worker(queues="infer.cpu", concurrency=16, name="batching",
                 env=worker_env(INFERENCE_BATCH_ADAPTIVE="false", INFERENCE_BATCH_WINDOW_MS="20"))
    subscribe(buyer, tiny, "payg")
    rng = np.random.default_rng(11)
    inputs = [rng.standard_normal((1 + i % 3, 4)).astype(np.float32) for i in range(48)]
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(16)

    def call(worker_index: int) -> None:
        from django.db import connection

        client = oip_client(buyer)
        barrier.wait()
        for i in range(worker_index, len(inputs), 16):
            response = post_infer(client, NAME, body(inputs[i]))
            out = response.json()["outputs"][0]
            results[i] = np.array(out["data"], dtype=np.float32).reshape(out["shape"])
        connection.close()

    threads = [threading.Thread(target=call, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, x in enumerate(inputs):
        np.testing.assert_allclose(results[i], expected(x), rtol=1e-6)
    metrics = stats.apply_async(queue="infer.cpu").get(timeout=30)["batcher"]
    assert metrics["requests"] >= 48
    assert any(int(size) > 1 for size in metrics["batch_size_histogram"]), metrics
    assert metrics["runs"] < metrics["requests"]
    assert UsageEvent.objects.count() == 48


def test_a_call_no_worker_takes_is_a_504_unbilled_and_is_never_run_later(buyer, tiny, settings, start_worker):
    subscribe(buyer, tiny, "payg")
    settings.INFERENCE_TIMEOUT_SECONDS = 1
    response = post_infer(oip_client(buyer), NAME, body([[1, 2, 3, 4]]))
    assert response.status_code == 504 and "not billed" in response.json()["error"]
    redis = get_redis()
    assert redis.llen("infer:lane:cpu") == 1
    assert 0 < redis.ttl("infer:lane:cpu") <= 1 + lane.LANE_EXPIRY_MARGIN_SECONDS, "inputs do not linger"

    start_worker(queues="infer.cpu", concurrency=2, name="late")
    deadline = time.monotonic() + 10
    while redis.llen("infer:lane:cpu") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert redis.llen("infer:lane:cpu") == 0, "the late worker took the request"
    assert not list(redis.scan_iter("infer:reply:*")), "and skipped it: its caller had its 504 already"
    assert UsageEvent.objects.count() == 0
    assert post_infer(oip_client(buyer), NAME, body([[1, 2, 3, 4]])).status_code == 200
