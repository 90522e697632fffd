"""Shared fixtures: the embedded Redis when no REDIS_URL is given, personas, worker processes.

Personas (STYLE.md): `vendor`, `buyer`, `outsider` (another tenant) and `staff`. Each comes with
an owner user, an organization and an API key holding every scope, plus a client using it.
"""

import os
import socket
from dataclasses import dataclass

import pytest
from celery import current_app
from django.conf import settings
from rest_framework.test import APIClient

from accounts import key_cache
from accounts.models import ApiKey, Organization, User
from accounts.services import api_key_create
from core import embedded_redis
from core.redis import get_redis, reset_redis
from marketplace.selectors.entitlements import entitlement_memo_clear
from tests.factories import MembershipFactory, UserFactory
from tests.workers import WorkerProcess


@pytest.fixture(scope="session", autouse=True)
def redis_server():
    """A real Redis for the whole run: the configured one, or an embedded one on a unix socket."""
    process = None
    if not os.environ.get("REDIS_URL"):
        process = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, data_dir=settings.VAR_DIR / "redis")
    reset_redis()
    get_redis().flushdb()
    yield
    if process is not None:
        embedded_redis.stop(process)


@pytest.fixture(autouse=True)
def _fresh_key_cache():
    # Per-process memos keyed by ids, which tests reuse after their rollback.
    key_cache.clear()
    entitlement_memo_clear()
    # Every test client calls from 127.0.0.1: one test's refused keys must not throttle the next.
    failures = list(get_redis().scan_iter("mb:apikey:fail:*"))
    if failures:
        get_redis().delete(*failures)
    yield
    key_cache.clear()
    entitlement_memo_clear()


@dataclass
class Persona:
    user: User
    organization: Organization
    api_key: ApiKey
    secret: str
    client: APIClient


def make_persona(slug: str, *, staff: bool = False, scopes: list[str] | None = None) -> Persona:
    user = UserFactory(email=f"{slug}@example.com", is_staff=staff, is_superuser=staff)
    membership = MembershipFactory(user=user, organization__slug=slug)
    api_key, secret = api_key_create(
        organization=membership.organization, created_by=user, name=f"{slug} key",
        scopes=scopes or list(ApiKey.Scope.values),
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return Persona(user=user, organization=membership.organization, api_key=api_key, secret=secret, client=client)


@pytest.fixture
def vendor(db) -> Persona:
    return make_persona("vendor-co")


@pytest.fixture
def buyer(db) -> Persona:
    return make_persona("buyer-co")


@pytest.fixture
def outsider(db) -> Persona:
    return make_persona("outsider-co")


@pytest.fixture
def staff(db) -> Persona:
    return make_persona("staff-co", staff=True)


@pytest.fixture
def start_worker(django_db_setup, django_db_blocker):
    """Starts real Celery worker processes against the test database and broker."""
    started: list[WorkerProcess] = []

    def start(**kwargs) -> WorkerProcess:
        worker = WorkerProcess(**kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def celery_worker(start_worker) -> WorkerProcess:
    return start_worker(queues="default,convert,infer.cpu", name="all")


def _use_broker(url: str | None) -> None:
    current_app.conf.broker_write_url = url
    current_app.amqp._producer_pool = None  # pools are built once, for the address of then
    current_app._pool = None


@pytest.fixture
def broker_down():
    """Celery's broker address becomes a socket that refuses every connection, so a send fails
    inside kombu exactly as it does while Redis restarts. Yields the call that brings it back."""
    saved = current_app.conf.broker_write_url
    with socket.socket() as refusing:  # bound, never listening: connections are refused
        refusing.bind(("127.0.0.1", 0))
        _use_broker(f"redis://127.0.0.1:{refusing.getsockname()[1]}/0")
        try:
            yield lambda: _use_broker(saved)
        finally:
            _use_broker(saved)


STRIPE_WEBHOOK_TEST_SECRET = "whsec_modelbay_test_secret"


@pytest.fixture
def stripe_standin(settings):
    """The local Stripe stand-in on a free port, with settings pointing billing at it (the
    STRIPE_API_KEY switch on). Webhooks are not pushed unless a test configures a URL."""
    from stripe_standin import StripeStandin

    standin = StripeStandin(port=0, webhook_secret=STRIPE_WEBHOOK_TEST_SECRET, webhook_backoff_seconds=0.05)
    base_url = standin.start()
    settings.STRIPE_API_KEY = "sk_test_standin"
    settings.STRIPE_API_BASE = base_url
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_TEST_SECRET
    yield standin
    standin.stop()


@pytest.fixture
def api_client_anon() -> APIClient:
    """A client without credentials (webhooks, public pages)."""
    return APIClient()


# Serving fixtures (a published tiny model, an inference worker, fresh caches), defined with
# their helpers in tests/inference/serving.py.
from tests.inference.serving import fresh_serving_caches, infer_worker, tiny  # noqa: E402, F401
