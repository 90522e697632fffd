"""Limits one buyer cannot dodge by minting keys: per-organization rate and in-flight limits."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import redis

from accounts.services import api_key_create
from core.errors import RateLimited, ServiceUnavailable
from core.redis import get_redis
from inference.serving import dispatch, gateway
from inference.serving.lanes import async_lane
from inference.serving.predictions.services import prediction_create
from tests.inference.serving import subscribe

pytestmark = pytest.mark.django_db
NAME = "vendor-co.tiny"


def at_the_start_of_a_second() -> None:
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


def test_an_organization_is_rate_limited_across_all_its_keys(buyer, tiny, settings):
    subscribe(buyer, tiny, "payg")
    settings.INFERENCE_RATE_LIMIT_PER_SECOND = 100
    settings.INFERENCE_ORG_RATE_LIMIT_PER_SECOND = 3
    second_key, _ = api_key_create(organization=buyer.organization, created_by=buyer.user, name="second",
                                   scopes=["inference"])
    at_the_start_of_a_second()
    admitted = [gateway.admit(api_key=key, name=NAME, version=None)
                for key in (buyer.api_key, second_key, buyer.api_key)]
    with pytest.raises(RateLimited) as refused:
        gateway.admit(api_key=second_key, name=NAME, version=None)
    assert len(admitted) == 3
    assert refused.value.status_code == 429 and "organization" in refused.value.message
    assert refused.value.headers["Retry-After"] == "1"
    assert refused.value.headers["RateLimit-Policy"] == '"key";q=100;w=1, "org";q=3;w=1'
    assert refused.value.headers["RateLimit"].endswith('"org";r=0;t=1')


def test_admission_reports_what_is_left_of_both_windows(buyer, tiny, settings):
    subscribe(buyer, tiny, "payg")
    settings.INFERENCE_RATE_LIMIT_PER_SECOND = 10
    settings.INFERENCE_ORG_RATE_LIMIT_PER_SECOND = 50
    at_the_start_of_a_second()
    gateway.admit(api_key=buyer.api_key, name=NAME, version=None)
    headers = gateway.admit(api_key=buyer.api_key, name=NAME, version=None).rate.headers()
    assert headers == {"RateLimit-Policy": '"key";q=10;w=1, "org";q=50;w=1',
                       "RateLimit": '"key";r=8;t=1, "org";r=48;t=1'}


def test_the_async_in_flight_limit_counts_each_prediction_once(buyer):
    org = buyer.organization.pk
    key = async_lane.inflight_key(org)
    get_redis().delete(key)
    assert [async_lane.admit(organization_id=org, prediction_id=f"pred_{i}", limit=2, ttl_seconds=60)
            for i in range(2)] == [1, 2]
    with pytest.raises(async_lane.InFlightLimit):
        async_lane.admit(organization_id=org, prediction_id="pred_2", limit=2, ttl_seconds=60)
    assert get_redis().zcard(key) == 2, "a refused admission does not count"
    async_lane.done(organization_id=org, prediction_id="pred_0")
    async_lane.done(organization_id=org, prediction_id="pred_0")  # a second end frees nothing more
    assert async_lane.admit(organization_id=org, prediction_id="pred_3", limit=2, ttl_seconds=60) == 2


def test_a_prediction_refused_because_redis_went_away_frees_its_in_flight_slot_by_its_deadline(
        buyer, tiny, settings, monkeypatch):
    """Redis killed between admitting a prediction and queueing it: the create answers 503 and
    cannot take its slot back. The slot lapses with the retention rather than being held for as
    long as the organization keeps predicting (found by tests/e2e/test_soak.py)."""
    subscribe(buyer, tiny, "payg")
    settings.INFERENCE_ASYNC_INFLIGHT_PER_ORG = 1
    get_redis().delete(async_lane.inflight_key(buyer.organization.pk))
    inputs = [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1.0, 2.0, 3.0, 4.0]}]

    def redis_gone(**kwargs):
        raise redis.ConnectionError("Connection refused")

    with monkeypatch.context() as outage:
        outage.setattr(dispatch, "enqueue", redis_gone)
        outage.setattr(async_lane, "done", redis_gone)
        with pytest.raises(ServiceUnavailable):
            prediction_create(api_key=buyer.api_key, model=NAME, version=None, inputs=inputs)
    with pytest.raises(RateLimited):  # within its retention the lost one still counts
        prediction_create(api_key=buyer.api_key, model=NAME, version=None, inputs=inputs)

    later = time.time() + buyer.organization.retention_minutes * 60 + 1
    monkeypatch.setattr(async_lane, "time", SimpleNamespace(time=lambda: later))
    state = prediction_create(api_key=buyer.api_key, model=NAME, version=None, inputs=inputs)
    assert state["status"] == "queued"
