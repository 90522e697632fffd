"""Redis restarting or unreachable while a person uses the portal or the API with a session: the
request answers 503 with Retry-After and says to retry, not 500, and its transaction rolls back
(key-authenticated calls already answer 503 from the key check, accounts/authentication.py).

The outage is real to redis-py: REDIS_URL and the cache's address point at a port that refuses
connections, so every client meets a ConnectionError as in a Redis restart.
"""

import socket

import pytest
from django.test import Client

from accounts.models import ApiKey
from accounts.services import api_key_create
from core.redis import reset_redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down(settings):
    with socket.socket() as refusing:  # bound, never listening
        refusing.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{refusing.getsockname()[1]}/0"
        settings.REDIS_URL = url
        settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}
        reset_redis()
        yield
    reset_redis()  # the settings fixture restores the address; the next client is built for it


@pytest.fixture
def spare_key(buyer) -> ApiKey:
    key, _ = api_key_create(organization=buyer.organization, created_by=buyer.user, name="spare",
                            scopes=["inference"])  # fmt: skip
    return key


def _signed_in(persona) -> Client:
    client = Client()
    client.force_login(persona.user)
    return client


def test_a_page_that_meets_redis_down_answers_503_and_changes_nothing(buyer, spare_key, redis_down):
    response = _signed_in(buyer).post(f"/accounts/keys/{spare_key.pk}/revoke/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "Try again in a few seconds" in response.content.decode()
    spare_key.refresh_from_db()
    assert spare_key.revoked_at is None  # the revocation rolled back with the failed request


def test_an_api_call_with_a_session_that_meets_redis_down_answers_503_json(buyer, spare_key, redis_down):
    response = _signed_in(buyer).delete(f"/api/v1/keys/{spare_key.pk}")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == "service_unavailable" and "retry in a few seconds" in error["message"]
    spare_key.refresh_from_db()
    assert spare_key.revoked_at is None
