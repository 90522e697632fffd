"""Pricing, the usage ledger, alerts, and counters rebuilt from the ledger."""

from decimal import Decimal
from types import SimpleNamespace

import pytest

from billing import pricing
from billing.models import Notification, UsageEvent
from billing.services.limits import usage_limit_set
from billing.services.metering import usage_commit, usage_release, usage_reserve
from core.errors import PaymentRequired, QuotaExceeded
from core.redis import get_redis
from marketplace.models import ModelVersion
from tests.inference.serving import subscribe


def plan(**terms):
    base = dict(kind="payg", unit="call", unit_price_minor=0, included_calls=0, overage_price_minor=0, currency="usd")
    return SimpleNamespace(**{**base, **terms})


@pytest.mark.parametrize("terms, units, compute_ms, before, amount", [
    (dict(kind="free"), 10, 5, 0, "0"),
    (dict(unit_price_minor=3), 10, 5, 0, "3"),
    (dict(unit="1k_units", unit_price_minor=7), 384, 5, 0, "2.688"),
    (dict(unit="compute_second", unit_price_minor=50), 1, 12.5, 0, "0.625"),
    (dict(kind="subscription", included_calls=2, overage_price_minor=4), 1, 1, 1, "0"),
    (dict(kind="subscription", included_calls=2, overage_price_minor=4), 1, 1, 2, "4"),
])
def test_price_of_one_call_follows_the_plan(terms, units, compute_ms, before, amount):
    assert pricing.price_call(plan=plan(**terms), units=units, compute_ms=compute_ms,
                              calls_before=before) == Decimal(amount)


def test_cost_header_is_in_major_units():
    assert pricing.format_cost(Decimal("2"), "usd") == "0.02 USD"
    assert pricing.format_cost(Decimal("0.0125"), "eur") == "0.000125 EUR"


def reserve(buyer, model, entitlement, request_id):
    return usage_reserve(request_id=request_id, organization=buyer.organization, api_key=buyer.api_key,
                         model=model, entitlement=entitlement, units=4)


def test_usage_is_recorded_once_per_request_id_and_is_append_only(buyer, tiny):
    entitlement = subscribe(buyer, tiny, "payg")
    version = ModelVersion.objects.get(model=tiny)
    reservation = reserve(buyer, tiny, entitlement, "req-1")
    first = usage_commit(reservation=reservation, version=version, compute_ms=1.5)
    again = usage_commit(reservation=reservation, version=version, compute_ms=1.5)
    assert first.pk == again.pk and UsageEvent.objects.count() == 1
    assert first.amount_minor == Decimal(2) and first.plan_id == entitlement.plan_id
    with pytest.raises(PermissionError):
        UsageEvent.objects.filter(pk=first.pk).update(amount_minor=0)
    with pytest.raises(PermissionError):
        first.delete()


def test_subscription_overage_starts_after_the_included_calls(buyer, tiny):
    entitlement = subscribe(buyer, tiny, "subscription")  # 1000 included, then 1 minor a call
    version = ModelVersion.objects.get(model=tiny)
    key = f"mb:q:ent:{entitlement.pk}:{int(entitlement.period_start.timestamp())}"
    get_redis().set(key, 999)  # 999 calls already this period
    amounts = [usage_commit(reservation=reserve(buyer, tiny, entitlement, f"r{i}"), version=version,
                            compute_ms=1).amount_minor for i in range(3)]
    assert amounts == [Decimal(0), Decimal(1), Decimal(1)]


def test_released_reservations_give_the_quota_back(buyer, tiny):
    entitlement = subscribe(buyer, tiny, "free")  # 100 calls
    first = reserve(buyer, tiny, entitlement, "a")
    assert first.quota_remaining == 99
    usage_release(reservation=first)
    assert reserve(buyer, tiny, entitlement, "b").quota_remaining == 99


def test_missing_counters_are_rebuilt_from_the_ledger(buyer, tiny):
    entitlement = subscribe(buyer, tiny, "free")
    version = ModelVersion.objects.get(model=tiny)
    for i in range(3):
        usage_commit(reservation=reserve(buyer, tiny, entitlement, f"r{i}"), version=version, compute_ms=1)
    get_redis().flushdb()  # a Redis restart without persistence
    assert reserve(buyer, tiny, entitlement, "after").quota_remaining == 96


def test_alerts_are_recorded_once_at_80_and_100_percent_of_the_spend_cap(buyer, tiny):
    entitlement = subscribe(buyer, tiny, "payg")  # 2 minor a call
    usage_limit_set(organization=buyer.organization, spend_cap_minor=10)
    version = ModelVersion.objects.get(model=tiny)
    for i in range(5):
        usage_commit(reservation=reserve(buyer, tiny, entitlement, f"r{i}"), version=version, compute_ms=1)
    with pytest.raises(PaymentRequired) as refused:
        reserve(buyer, tiny, entitlement, "over")
    assert refused.value.details["spend_cap_minor"] == 10
    alerts = Notification.objects.filter(organization=buyer.organization, kind="spend_cap")
    assert sorted(a.threshold for a in alerts) == [80, 100]
    assert UsageEvent.objects.count() == 5


def test_per_key_quota_refuses_with_429(buyer, tiny):
    entitlement = subscribe(buyer, tiny, "payg")
    usage_limit_set(organization=buyer.organization, api_key=buyer.api_key, monthly_calls=1)
    reserve(buyer, tiny, entitlement, "one")
    with pytest.raises(QuotaExceeded):
        reserve(buyer, tiny, entitlement, "two")


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_ledger_takes_one_insert_and_still_records_once_with_its_alerts(
        buyer, tiny, monkeypatch):
    # The hot path (no transaction open, no threshold crossed) records with a bare INSERT; a
    # retried commit and a call that crosses an alert threshold must behave as inside one.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    entitlement = subscribe(buyer, tiny, "payg")  # 2 minor a call
    usage_limit_set(organization=buyer.organization, spend_cap_minor=10)
    version = ModelVersion.objects.get(model=tiny)
    assert not connection.in_atomic_block
    first = reserve(buyer, tiny, entitlement, "r0")
    commits = []
    monkeypatch.setattr(connection, "commit", lambda real=connection.commit: commits.append(1) or real())
    with CaptureQueriesContext(connection) as queries:
        event = usage_commit(reservation=first, version=version, compute_ms=1)
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"] and commits == []
    monkeypatch.undo()
    assert usage_commit(reservation=first, version=version, compute_ms=1).pk == event.pk
    for i in range(1, 5):
        usage_commit(reservation=reserve(buyer, tiny, entitlement, f"r{i}"), version=version, compute_ms=1)
    alerts = Notification.objects.filter(organization=buyer.organization, kind="spend_cap")
    assert sorted(a.threshold for a in alerts) == [80, 100]
    assert UsageEvent.objects.filter(organization=buyer.organization).count() == 5


@pytest.mark.django_db(transaction=True)
def test_the_ledger_insert_is_its_own_health_check_and_survives_a_database_restart(buyer, tiny, monkeypatch):
    # A new request on a persistent connection: Django would send SELECT 1 before the INSERT.
    # The hot path sends the INSERT alone, and when the server dropped the connection since
    # (as after a database restart) it reconnects and records the call once.
    from django.db import close_old_connections, connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("terminating a server connection needs PostgreSQL")
    entitlement = subscribe(buyer, tiny, "payg")
    version = ModelVersion.objects.get(model=tiny)
    reservation = reserve(buyer, tiny, entitlement, "healthy")
    ended = reserve(buyer, tiny, entitlement, "after-restart")
    connection.close()  # reopened as in production: persistent, health-checked per request
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", None)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    connection.ensure_connection()
    checks = []  # Django's health check runs SELECT 1 on the raw connection, unseen by CaptureQueries
    monkeypatch.setattr(connection, "is_usable", lambda real=connection.is_usable: checks.append(1) or real())
    close_old_connections()  # what the next request starts with
    with CaptureQueriesContext(connection) as queries:
        usage_commit(reservation=reservation, version=version, compute_ms=1)
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"] and checks == []

    import psycopg
    from django.conf import settings

    database = settings.DATABASES["default"]
    with psycopg.connect(host=database["HOST"], port=database["PORT"] or 5432, user=database["USER"],
                         password=database["PASSWORD"] or None, dbname=database["NAME"], autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (connection.connection.info.backend_pid,))
    close_old_connections()
    event = usage_commit(reservation=ended, version=version, compute_ms=1)
    assert UsageEvent.objects.filter(request_id="after-restart").get().pk == event.pk
