"""Guessing API keys from one address is throttled in Redis before any database lookup."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import keys
from accounts.authentication import KeyFailuresThrottled, api_key_lookup
from core.errors import RateLimited

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"


def _call(secret: str, ip: str = ATTACKER):
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client.get("/api/v1/keys")


def test_invalid_keys_from_one_address_meet_429_with_retry_after_before_the_database(vendor, settings):
    settings.API_KEY_FAILURE_LIMIT = 5
    settings.API_KEY_FAILURE_WINDOW_SECONDS = 60
    for _ in range(5):
        assert _call(keys.generate("live").plaintext).status_code == 401
    with CaptureQueriesContext(connection) as queries:
        refused = _call(keys.generate("live").plaintext)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "Too many refused API keys" in refused.json()["error"]["message"]
    assert not [q for q in queries.captured_queries if "accounts_apikey" in q["sql"]]
    # Even the right key waits: the address is throttled, not the key.
    assert _call(vendor.secret).status_code == 429
    # Other addresses are untouched.
    assert _call(vendor.secret, ip="198.51.100.20").status_code == 200


def test_malformed_revoked_and_expired_keys_all_count_as_failures(vendor, settings):
    settings.API_KEY_FAILURE_LIMIT = 3
    assert _call("mb_live_short").status_code == 401
    tampered = vendor.secret[:-1] + ("A" if vendor.secret[-1] != "A" else "B")
    assert _call(tampered).status_code == 401
    assert _call(keys.generate("test").plaintext).status_code == 401
    assert _call(vendor.secret).status_code == 429


def test_the_window_ends_and_the_address_may_try_again(vendor, settings):
    settings.API_KEY_FAILURE_LIMIT = 2
    settings.API_KEY_FAILURE_WINDOW_SECONDS = 1
    for _ in range(2):
        _call(keys.generate("live").plaintext)
    assert _call(vendor.secret).status_code == 429
    import time

    time.sleep(1.2)
    assert _call(vendor.secret).status_code == 200


def test_the_gateway_function_raises_a_core_error_with_retry_after(vendor, settings):
    settings.API_KEY_FAILURE_LIMIT = 2
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 - AuthenticationFailed, counted
            api_key_lookup(keys.generate("live").plaintext, ip=ATTACKER)
    with pytest.raises(KeyFailuresThrottled) as throttled:
        api_key_lookup(vendor.secret, ip=ATTACKER)
    assert isinstance(throttled.value, RateLimited) and throttled.value.status_code == 429
    assert throttled.value.code == "too_many_failed_keys"
    assert 1 <= throttled.value.details["retry_after"] <= settings.API_KEY_FAILURE_WINDOW_SECONDS
    assert api_key_lookup(vendor.secret, ip="198.51.100.20").pk == vendor.api_key.pk


def test_a_good_key_does_not_count_and_keeps_working(vendor, settings):
    settings.API_KEY_FAILURE_LIMIT = 2
    for _ in range(10):
        assert _call(vendor.secret).status_code == 200
