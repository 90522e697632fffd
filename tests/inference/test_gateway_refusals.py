"""What the gateway refuses before anything is queued or billed (SECURITY rows 14-17, 21).

No worker runs here: every refusal must happen before the enqueue step, so a test that needed
a worker to pass would itself show a bug."""

import json

import numpy as np
import pytest
from django.test import Client

from accounts.services import api_key_revoke
from billing.models import UsageEvent
from billing.services.limits import usage_limit_set
from marketplace.models import Model
from tests.conftest import make_persona
from tests.factories import ready_version
from tests.inference.serving import body, oip_client, post_infer, subscribe

NAME = "vendor-co.tiny"


@pytest.fixture
def entitled(buyer, tiny):
    subscribe(buyer, tiny)
    return buyer


@pytest.mark.parametrize("payload, fragment", [
    (body(np.zeros((1, 4), dtype=np.int64).tolist(), datatype="INT64"), "input 'x' is INT64; expected FP32 [-1, 4]"),
    (body(np.zeros((1, 5)).tolist()), "input 'x' has shape [1, 5]; expected FP32 [-1, 4]"),
    (body(np.zeros((1, 4)).tolist(), name="z"), "unexpected input 'z'"),
    (json.dumps({"inputs": [
        {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 0, 0]},
        {"name": "extra", "datatype": "FP32", "shape": [1], "data": [1]},
    ]}).encode(), "unexpected input 'extra'"),
    (json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2]}]}).encode(),
     "input 'x': got 2 elements, expected 4 elements for shape [1, 4]"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_bad_inputs_are_refused_with_400_naming_the_input(entitled, payload, fragment):
    response = post_infer(oip_client(entitled), NAME, payload)
    assert response.status_code == 400, response.content
    assert fragment in response.json()["error"]
    assert UsageEvent.objects.count() == 0


def test_missing_input_names_what_the_model_expects(vendor, entitled):
    # A second input on a model that takes one: the message lists what it takes.
    response = post_infer(oip_client(entitled), NAME, json.dumps({"inputs": [
        {"name": "q", "datatype": "FP32", "shape": [1], "data": [1]}]}).encode())
    assert response.status_code == 400
    assert "this model takes: 'x' FP32 [-1, 4]" in response.json()["error"]


def test_oversize_body_is_413_before_it_is_read(entitled, settings):
    settings.INFERENCE_MAX_BODY_BYTES = 1000
    response = post_infer(oip_client(entitled), NAME, body(np.zeros((100, 4)).tolist()))
    assert response.status_code == 413
    assert "limit is 1000 bytes" in response.json()["error"]


def test_tensor_over_the_element_cap_is_413(entitled, settings):
    settings.INFERENCE_MAX_ELEMENTS_PER_TENSOR = 16
    response = post_infer(oip_client(entitled), NAME, body(np.zeros((5, 4)).tolist()))
    assert response.status_code == 413
    assert "input 'x' has 20 elements; the limit is 16" in response.json()["error"]


def test_outsider_gets_404_for_a_private_model_and_nothing_is_billed(vendor, outsider, fresh_serving_caches):
    model = Model.objects.create(organization=vendor.organization, slug="secret", name="Secret")
    ready_version(model)
    client = oip_client(outsider)
    for response in (post_infer(client, "vendor-co.secret", body([[1, 2, 3, 4]])),
                     client.get("/v2/models/vendor-co.secret"), client.get("/v2/models/vendor-co.secret/ready")):
        assert response.status_code == 404
        assert "vendor-co.secret" in response.json()["error"]
    assert UsageEvent.objects.count() == 0


def test_unsubscribed_buyer_is_told_how_to_subscribe(buyer, tiny):
    response = post_infer(oip_client(buyer), NAME, body([[1, 2, 3, 4]]))
    assert response.status_code == 403
    assert "accepted the license" in response.json()["error"]


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer mb_live_nonsense", "Basic abc", "Bearer not-a-key"])
def test_missing_or_malformed_keys_are_401(tiny, header):
    from django.test import Client

    response = Client(HTTP_AUTHORIZATION=header).post(f"/v2/models/{NAME}/infer", data=body([[1, 2, 3, 4]]),
                                                      content_type="application/json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "error" in response.json()


def test_revoked_and_expired_keys_are_401(entitled):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import ApiKey

    expired = make_persona("late-co")
    ApiKey.objects.filter(pk=expired.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert post_infer(oip_client(expired), NAME, body([[1, 2, 3, 4]])).status_code == 401
    api_key_revoke(organization=entitled.organization, key_id=entitled.api_key.pk, actor=entitled.user)
    response = post_infer(oip_client(entitled), NAME, body([[1, 2, 3, 4]]))
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]


def test_key_without_inference_scope_is_403(tiny):
    reader = make_persona("reader-co", scopes=["catalog:read"])
    response = post_infer(oip_client(reader), NAME, body([[1, 2, 3, 4]]))
    assert response.status_code == 403
    assert "'inference' scope" in response.json()["error"]


def test_spend_cap_reached_is_402_with_the_cap_and_records_nothing(entitled):
    usage_limit_set(organization=entitled.organization, spend_cap_minor=0)
    response = post_infer(oip_client(entitled), NAME, body([[1, 2, 3, 4]]))
    assert response.status_code == 402
    assert "spend cap of 0.00 USD" in response.json()["error"]
    assert UsageEvent.objects.count() == 0


def test_exhausted_key_quota_is_429(entitled):
    usage_limit_set(organization=entitled.organization, api_key=entitled.api_key, monthly_calls=0)
    response = post_infer(oip_client(entitled), NAME, body([[1, 2, 3, 4]]))
    assert response.status_code == 429
    assert "API key's limit of 0 calls a month" in response.json()["error"]


def test_health_and_metadata(entitled):
    client = oip_client(entitled)
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get(f"/v2/models/{NAME}").json()
    assert meta == {"name": NAME, "versions": ["1.0.0"], "platform": "onnxruntime_onnx",
                    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
                    "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}]}
    assert client.get(f"/v2/models/{NAME}/ready").json() == {"name": NAME, "ready": True}
    assert client.get(f"/v2/models/{NAME}/versions/9.9.9/ready").status_code == 404


def test_calls_over_the_per_key_rate_limit_are_429_with_retry_after(entitled, settings):
    settings.INFERENCE_RATE_LIMIT_PER_SECOND = 0
    response = post_infer(oip_client(entitled), NAME, body([[1, 2, 3, 4]]))
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert "limited to 0 calls a second" in response.json()["error"]
    assert UsageEvent.objects.count() == 0


def test_a_flood_of_refused_keys_on_the_inference_api_is_throttled_with_retry_after(tiny, settings):
    """Issue #12 item 5: 200 invalid bearer keys in about a second met no throttle."""
    from accounts import keys

    settings.API_KEY_FAILURE_LIMIT = 20
    statuses = []
    for _ in range(60):
        guessed = keys.generate("live").plaintext  # well-formed, checksummed, unknown
        response = post_infer(Client(HTTP_AUTHORIZATION=f"Bearer {guessed}"), NAME, body([[1, 2, 3, 4]]))
        statuses.append(response.status_code)
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}
    assert 0 < int(response["Retry-After"]) <= settings.API_KEY_FAILURE_WINDOW_SECONDS
    assert "Too many refused API keys" in response.json()["error"]
    assert UsageEvent.objects.count() == 0


def test_a_suspension_bites_on_the_next_call_while_the_model_is_still_cached(entitled, tiny, settings):
    from core.errors import NotFound
    from inference.serving import gateway
    from marketplace.services.moderation import model_suspend

    settings.INFERENCE_RESOLVE_CACHE_SECONDS = 3600  # the process would otherwise trust its cache for an hour
    for _ in range(2):  # the first call caches the resolution, the second checks it against the generation
        gateway.admit(api_key=entitled.api_key, name=NAME, version=None)
    model_suspend(model=tiny, actor=None, reason="The benchmark claims could not be reproduced")
    with pytest.raises(NotFound):
        gateway.admit(api_key=entitled.api_key, name=NAME, version=None)
