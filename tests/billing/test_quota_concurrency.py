"""SECURITY row 20: 1,000 concurrent calls at the quota edge overshoot by at most the
concurrency, and no counter goes negative - also when the counter vanishes mid-run."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from billing.models import UsageEvent
from billing.services.limits import usage_limit_set
from billing.services.metering import usage_commit, usage_release, usage_reserve
from core.errors import ApplicationError
from core.redis import get_redis
from marketplace.models import ModelVersion
from tests.inference.serving import subscribe

CONCURRENCY = 32


def run_calls(buyer, model, entitlement, *, calls: int, vanish_at: int | None = None, fail_every: int = 0):
    version = ModelVersion.objects.get(model=model)
    outcomes: list[str] = []

    def call(i: int) -> str:
        try:
            if i == vanish_at:
                get_redis().flushdb()
            try:
                reservation = usage_reserve(request_id=f"r{i}", organization=buyer.organization,
                                            api_key=buyer.api_key, model=model, entitlement=entitlement, units=4)
            except ApplicationError as exc:
                return exc.code
            if fail_every and i % fail_every == 0:  # the run failed: give the reservation back
                usage_release(reservation=reservation)
                return "released"
            usage_commit(reservation=reservation, version=version, compute_ms=1)
            return "ok"
        finally:
            connection.close()

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        outcomes = list(pool.map(call, range(calls)))
    return outcomes


def counters() -> dict[str, int]:
    client = get_redis()
    return {k.decode(): int(client.get(k)) for k in client.scan_iter("mb:*")}


@pytest.mark.django_db(transaction=True)
def test_thousand_concurrent_calls_at_the_plan_quota_take_exactly_the_quota(buyer, tiny):
    entitlement = subscribe(buyer, tiny, "free")  # 100 calls
    outcomes = run_calls(buyer, tiny, entitlement, calls=1000, fail_every=7)
    accepted = outcomes.count("ok")
    assert accepted == UsageEvent.objects.count()
    # Never past the quota; released reservations were taken by later calls (only releases in
    # the last moments can leave a slot unused).
    assert 100 - CONCURRENCY <= accepted <= 100
    assert outcomes.count("quota_exceeded") == 1000 - accepted - outcomes.count("released")
    assert all(v >= 0 for v in counters().values())


@pytest.mark.django_db(transaction=True)
def test_quota_edge_with_the_counter_lost_midway_overshoots_at_most_the_concurrency(buyer, tiny):
    entitlement = subscribe(buyer, tiny, "free")
    outcomes = run_calls(buyer, tiny, entitlement, calls=1000, vanish_at=60)
    accepted = outcomes.count("ok")
    assert 100 <= accepted <= 100 + CONCURRENCY
    assert accepted == UsageEvent.objects.count()
    assert all(v >= 0 for v in counters().values())


@pytest.mark.django_db(transaction=True)
def test_thousand_concurrent_calls_at_the_spend_cap_never_spend_past_it(buyer, tiny):
    entitlement = subscribe(buyer, tiny, "payg")  # 2 minor a call
    usage_limit_set(organization=buyer.organization, spend_cap_minor=100)
    outcomes = run_calls(buyer, tiny, entitlement, calls=1000)
    assert outcomes.count("ok") == 50
    assert outcomes.count("spend_cap_reached") == 950
    assert sum(e.amount_minor for e in UsageEvent.objects.all()) == 100
