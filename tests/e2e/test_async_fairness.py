"""One buyer's queued work cannot crowd out another's: in-flight limits, round-robin across
organizations, and sync calls ahead of queued work. Real worker processes, real Redis."""

from __future__ import annotations

import pytest

from billing.models import UsageEvent
from tests.e2e.test_inference_security import predict, prediction_state, slow_version, wait_until
from tests.factories import published_model
from tests.inference.serving import body, oip_client, post_infer, subscribe
from tests.workers import worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SLOW = "vendor-co.slow"


def finished(persona, ids: list[str]) -> list[str]:
    return [p for p in ids if prediction_state(persona, p)["status"] in ("succeeded", "failed")]


def test_past_its_in_flight_limit_an_organization_gets_429_with_retry_after_until_work_drains(
        vendor, buyer, fresh_serving_caches, start_worker, settings):
    version = slow_version(vendor, layers=20)
    subscribe(buyer, version.model, "payg")
    settings.INFERENCE_ASYNC_INFLIGHT_PER_ORG = 3
    queued = [predict(buyer, SLOW) for _ in range(3)]  # no worker yet: they wait in the queue
    refused = buyer.client.post("/api/v1/predictions", {"model": SLOW, "inputs": [
        {"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [1.0]}]}, format="json")
    assert refused.status_code == 429 and refused["Retry-After"] == "5"
    assert refused.json()["error"]["code"] == "too_many_in_flight"
    assert "3 async predictions" in refused.json()["error"]["message"]

    start_worker(queues="infer.cpu", concurrency=2, name="infer")
    assert wait_until(lambda: len(finished(buyer, queued)) == 3, timeout=120)
    again = predict(buyer, SLOW)
    assert wait_until(lambda: finished(buyer, [again]), timeout=120)
    assert UsageEvent.objects.count() == 4, "each finished prediction billed once, the refused one never"


def test_one_organizations_backlog_does_not_hold_up_another_organizations_work(
        vendor, buyer, outsider, fresh_serving_caches, start_worker, settings):
    version = slow_version(vendor, layers=150)
    published_model(vendor.organization, "tiny", plans=("payg",))
    for persona in (buyer, outsider):
        subscribe(persona, version.model, "payg")
    subscribe(outsider, version.model.__class__.objects.get(slug="tiny"), "payg")
    settings.INFERENCE_TIMEOUT_SECONDS = 120
    backlog = [predict(buyer, SLOW) for _ in range(12)]
    start_worker(queues="infer.cpu", concurrency=4, name="infer", env=worker_env(INFERENCE_ASYNC_THREADS="2"))
    assert wait_until(lambda: finished(buyer, backlog[:1]), timeout=120), "the backlog is being worked"

    theirs = predict(outsider, SLOW)  # queued behind eleven of the buyer's
    sync = post_infer(oip_client(outsider), "vendor-co.tiny", body([[1, 2, 3, 4]]))
    assert sync.status_code == 200, sync.content
    assert len(finished(buyer, backlog)) < 12, "the sync call did not wait for the backlog"
    assert sync["RateLimit-Policy"] and sync["RateLimit"].startswith('"key";r=')

    assert wait_until(lambda: finished(outsider, [theirs]), timeout=300)
    done_before = len(finished(buyer, backlog))
    assert done_before <= 6, f"taken in turn, not after the whole backlog ({done_before} of 12 were done)"
    assert wait_until(lambda: len(finished(buyer, backlog)) == 12, timeout=600)
