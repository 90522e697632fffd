"""The crash watch's liveness rule for workers on other hosts: a heartbeat key, not a pid."""

from __future__ import annotations

import json
import time

import pytest

from core.redis import get_redis
from inference.serving import quarantine
from marketplace.models import ModelVersion

pytestmark = pytest.mark.django_db


def mark_running(version: ModelVersion, request_id: str, *, host: str, pid: int) -> None:
    entry = {"v": version.pk, "host": host, "pid": pid, "t": time.time()}
    get_redis().hset(quarantine.running_key(), request_id, json.dumps(entry))


def test_a_run_of_a_worker_on_another_host_counts_as_a_crash_once_its_heartbeat_expires(tiny):
    version = ModelVersion.objects.get(model=tiny)
    mark_running(version, "r-alive", host="other-host", pid=4242)
    mark_running(version, "r-dead", host="gone-host", pid=4242)
    get_redis().set(quarantine.alive_key("other-host", 4242), 1, ex=quarantine.HEARTBEAT_TTL_SECONDS)

    assert quarantine.recover_dead_runs() == 1
    assert quarantine.recover_dead_runs() == 0, "a dead run is counted once"
    version.refresh_from_db()
    assert version.crash_count == 1
    assert set(get_redis().hkeys(quarantine.running_key())) == {b"r-alive"}, "the live worker's run stays"
