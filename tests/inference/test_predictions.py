"""Async predictions: Prefer: wait, polling, signed webhooks with retries, retention policy."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from billing.models import UsageEvent
from inference.serving.predictions.webhooks import verify_signature
from tests.inference.serving import expected, subscribe
from tests.workers import worker_env

pytestmark = pytest.mark.django_db(transaction=True)  # workers read what tests commit
X = [[1.0, 2.0, 3.0, 4.0]]
INPUTS = [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]


class Receiver:
    """A local webhook receiver that fails its first `failures` deliveries with 503."""

    def __init__(self, failures: int) -> None:
        self.deliveries: list[tuple[dict, bytes]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append((dict(self.headers), raw))
                self.send_response(503 if len(receiver.deliveries) <= receiver.failures else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def entitled(buyer, tiny):
    subscribe(buyer, tiny, "payg")
    return buyer


def test_prefer_wait_returns_the_finished_prediction_and_bills_it_once(entitled, infer_worker):
    response = entitled.client.post("/api/v1/predictions", {"model": "vendor-co.tiny", "inputs": INPUTS},
                                    format="json", HTTP_PREFER="wait=20")
    assert response.status_code == 201, response.content
    data = response.json()
    assert response["Preference-Applied"] == "wait=20"
    assert data["status"] == "succeeded", data
    np.testing.assert_allclose(np.array(data["outputs"][0]["data"], dtype=np.float32).reshape(1, 2),
                               expected(np.array(X, dtype=np.float32)))
    assert data["usage"] == {"units": 4, "cost": "0.02 USD"}
    assert UsageEvent.objects.filter(request_id=data["id"]).count() == 1


def test_polling_sees_queued_then_succeeded(entitled, infer_worker):
    created = entitled.client.post("/api/v1/predictions", {"model": "vendor-co.tiny", "inputs": INPUTS},
                                   format="json").json()
    assert created["status"] in {"queued", "succeeded"}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        polled = entitled.client.get(f"/api/v1/predictions/{created['id']}").json()
        if polled["status"] != "queued":
            break
        time.sleep(0.05)
    assert polled["status"] == "succeeded" and polled["outputs"][0]["shape"] == [1, 2]


def test_other_tenants_cannot_read_a_prediction(entitled, outsider, infer_worker):
    created = entitled.client.post("/api/v1/predictions", {"model": "vendor-co.tiny", "inputs": INPUTS},
                                   format="json").json()
    assert outsider.client.get(f"/api/v1/predictions/{created['id']}").status_code == 404


@pytest.fixture
def webhook_worker(start_worker):
    # The receiver listens on loopback, which production refuses (SSRF); short backoff.
    env = worker_env(INFERENCE_WEBHOOK_ALLOW_PRIVATE="true", INFERENCE_WEBHOOK_BACKOFF_SECONDS="0.5")
    return start_worker(queues="infer.cpu,default", concurrency=4, name="webhooks", env=env)


def test_signed_webhook_is_retried_until_the_receiver_accepts_it(entitled, webhook_worker, settings):
    settings.INFERENCE_WEBHOOK_ALLOW_PRIVATE = True
    receiver = Receiver(failures=2)
    try:
        secret = entitled.client.get("/api/v1/predictions/webhook-secret").json()["secret"]
        created = entitled.client.post("/api/v1/predictions", {
            "model": "vendor-co.tiny", "inputs": INPUTS, "webhook": receiver.url}, format="json").json()
        deadline = time.monotonic() + 40
        while len(receiver.deliveries) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        receiver.close()
    assert len(receiver.deliveries) == 3, "two 503s, then accepted"
    for headers, raw in receiver.deliveries:
        assert verify_signature(secret=secret, header=headers["Modelbay-Signature"], body=raw)
        assert not verify_signature(secret=secret, header=headers["Modelbay-Signature"], body=raw + b" ")
    delivered = json.loads(receiver.deliveries[-1][1])
    assert delivered["id"] == created["id"] and delivered["status"] == "succeeded"
    assert delivered["outputs"][0]["name"] == "y"


def test_webhooks_to_private_addresses_are_refused(entitled):
    response = entitled.client.post("/api/v1/predictions", {
        "model": "vendor-co.tiny", "inputs": INPUTS, "webhook": "http://127.0.0.1:9/hook"}, format="json")
    assert response.status_code == 400
    assert "private or loopback" in response.json()["error"]["message"]
    assert UsageEvent.objects.count() == 0


def test_zero_retention_orgs_cannot_use_async(entitled):
    organization = entitled.organization
    organization.data_policy = "zero_retention"
    organization.save(update_fields=["data_policy"])
    response = entitled.client.post("/api/v1/predictions", {"model": "vendor-co.tiny", "inputs": INPUTS},
                                    format="json")
    assert response.status_code == 403
    assert "synchronously" in response.json()["error"]["message"]


def test_invalid_async_inputs_are_400_in_the_api_error_format(entitled):
    response = entitled.client.post("/api/v1/predictions", {
        "model": "vendor-co.tiny", "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]},
        format="json")
    assert response.status_code == 400
    assert "input 'x' has shape [1, 3]" in response.json()["error"]["message"]


def test_webhook_signature_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    from inference.serving.predictions.webhooks import sign

    header = sign(secret="whsec_x", body=b'{"id":"p"}', timestamp=1700000000)
    expected_mac = hmac.new(b"whsec_x", b'1700000000.{"id":"p"}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected_mac}"
    assert not verify_signature(secret="whsec_x", header=header, body=b'{"id":"p"}')  # too old: replay


# --- client mistakes are 400/413 naming the problem, never 500 (issue #12 item 8) -------------

def _post_raw(persona, payload: bytes):
    return persona.client.generic("POST", "/api/v1/predictions", payload, content_type="application/json")


def test_json_nested_a_hundred_thousand_deep_is_a_400(entitled):
    payload = b'{"model": "vendor-co.tiny", "inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = _post_raw(entitled, payload)
    assert response.status_code == 400, response.content[:300]
    assert "nested" in response.json()["error"]["message"]
    assert UsageEvent.objects.count() == 0


def test_async_body_announced_over_the_cap_is_413_before_it_is_read(entitled, settings):
    # The client announces more than the cap; the server answers without reading (or buffering) it.
    claimed = settings.INFERENCE_MAX_BODY_BYTES + 1
    response = entitled.client.generic("POST", "/api/v1/predictions", b"{}", content_type="application/json",
                                       CONTENT_LENGTH=str(claimed))
    assert response.status_code == 413, response.content[:300]
    assert f"{claimed} bytes; the limit is {settings.INFERENCE_MAX_BODY_BYTES} bytes" in response.json()["error"]["message"]


def test_async_body_over_the_sync_cap_is_413(entitled, settings):
    settings.INFERENCE_MAX_BODY_BYTES = 1000
    data = list(range(300))
    payload = json.dumps({"model": "vendor-co.tiny", "inputs": [
        {"name": "x", "datatype": "FP32", "shape": [75, 4], "data": data}]}).encode()
    assert len(payload) > 1000
    response = _post_raw(entitled, payload)
    assert response.status_code == 413, response.content[:300]
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "1000 bytes" in response.json()["error"]["message"]


def test_async_accepts_bodies_the_sync_path_accepts_beyond_djangos_form_cap(entitled, settings):
    # DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default) is for forms; inference bodies have their own cap.
    rows = 200_000
    payload = json.dumps({"model": "vendor-co.tiny", "inputs": [
        {"name": "x", "datatype": "FP32", "shape": [rows, 4], "data": [1.0] * (rows * 4)}]}).encode()
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(payload) < settings.INFERENCE_MAX_BODY_BYTES
    response = _post_raw(entitled, payload)
    assert response.status_code == 201, response.content[:300]
    assert response.json()["status"] == "queued"


def test_async_tensor_over_the_element_cap_is_413_as_on_the_sync_path(entitled, settings):
    settings.INFERENCE_MAX_ELEMENTS_PER_TENSOR = 8
    response = entitled.client.post("/api/v1/predictions", {"model": "vendor-co.tiny", "inputs": [
        {"name": "x", "datatype": "FP32", "shape": [3, 4], "data": list(range(12))}]}, format="json")
    assert response.status_code == 413, response.content[:300]
    assert "the limit is 8 per tensor" in response.json()["error"]["message"]


def test_webhook_with_an_impossible_port_is_a_400_naming_it(entitled):
    response = entitled.client.post("/api/v1/predictions", {
        "model": "vendor-co.tiny", "inputs": INPUTS, "webhook": "https://example.com:99999/hook"}, format="json")
    assert response.status_code == 400, response.content[:300]
    assert "port" in response.json()["error"]["message"]
    assert UsageEvent.objects.count() == 0


def test_async_body_that_is_not_a_json_object_is_a_400(entitled):
    for payload in (b"[1, 2]", b"{not json", b'{"model": "vendor-co.tiny", "inputs": [1]}'):
        response = _post_raw(entitled, payload)
        assert response.status_code == 400, (payload, response.content[:300])
        assert response.json()["error"]["message"]
