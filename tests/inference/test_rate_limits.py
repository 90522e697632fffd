"""Limits one buyer cannot dodge by minting keys: per-organization rate and in-flight limits."""

from __future__ import annotations

import time

import pytest

from accounts.services import api_key_create
from core.errors import RateLimited
from core.redis import get_redis
from inference import gateway
from inference.serving import async_lane
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
    key = async_lane.inflight_key(buyer.organization.pk)
    get_redis().delete(key)
    assert [async_lane.admit(organization_id=buyer.organization.pk, limit=2, ttl_seconds=60)
            for _ in range(2)] == [1, 2]
    with pytest.raises(async_lane.InFlightLimit):
        async_lane.admit(organization_id=buyer.organization.pk, limit=2, ttl_seconds=60)
    assert int(get_redis().get(key)) == 2, "a refused admission does not count"
    async_lane.done(organization_id=buyer.organization.pk)
    assert async_lane.admit(organization_id=buyer.organization.pk, limit=2, ttl_seconds=60) == 2
