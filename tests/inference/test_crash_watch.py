"""The crash watch: which runs are dead, and what a dead worker may and may not be blamed for."""

from __future__ import annotations

import json
import time

import pytest

from billing.models import Notification
from core.redis import get_redis
from inference.serving.workers import quarantine
from marketplace.models import ModelVersion

pytestmark = pytest.mark.django_db


def mark_running(version: ModelVersion, request_id: str, *, host: str, pid: int, reply: str | None = None) -> None:
    entry = {"v": version.pk, "host": host, "pid": pid, "t": time.time(), "reply": reply}
    get_redis().hset(quarantine.running_key(), request_id, json.dumps(entry))


def test_a_run_of_a_worker_on_another_host_is_settled_once_its_heartbeat_expires(tiny):
    version = ModelVersion.objects.get(model=tiny)
    mark_running(version, "r-alive", host="other-host", pid=4242)
    mark_running(version, "r-dead", host="gone-host", pid=4242, reply="infer:reply:r-dead")
    get_redis().set(quarantine.alive_key("other-host", 4242), 1, ex=quarantine.HEARTBEAT_TTL_SECONDS)

    assert quarantine.sweep() == 1
    assert quarantine.sweep() == 0, "a dead run is settled once"
    assert set(get_redis().hkeys(quarantine.running_key())) == {b"r-alive"}, "the live worker's run stays"
    answer = json.loads(get_redis().lpop("infer:reply:r-dead"))
    assert answer["status"] == 503 and "not billed" in answer["error"], "the caller is answered at once"


def test_one_worker_death_is_one_incident_and_blames_no_version(tiny, vendor):
    version = ModelVersion.objects.get(model=tiny)
    for i in range(16):  # a busy worker: sixteen runs of one healthy version in flight
        mark_running(version, f"r-{i}", host="gone-host", pid=7)

    assert quarantine.sweep() == 16
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.READY and version.crash_count == 0
    incidents = Notification.objects.filter(kind=Notification.Kind.WORKER_DIED)
    assert incidents.count() == 1 and incidents.get().organization_id is None, "staff are told, once"
    assert "16 run(s) in flight" in incidents.get().message and "vendor-co.tiny" in incidents.get().message
    quarantine.suspects.refresh()
    assert version.pk in quarantine.suspects, "the version runs isolated until it proves healthy"


def test_only_crashes_in_isolation_count_and_clean_runs_clear_a_suspect(tiny, settings):
    settings.INFERENCE_QUARANTINE_AFTER_CRASHES = 2
    settings.INFERENCE_PROBATION_RUNS = 3
    version = ModelVersion.objects.get(model=tiny)
    quarantine.suspect(version_ids={version.pk}, incident="worker:gone-host:1")

    assert quarantine.version_crash_record(version_id=version.pk, evidence="SIGSEGV") is False
    assert [quarantine.probation_pass(version_id=version.pk) for _ in range(3)] == [False, False, True]
    quarantine.suspects.refresh()
    assert version.pk not in quarantine.suspects
    quarantine.suspect(version_ids={version.pk}, incident="worker:gone-host:2")
    assert quarantine.version_crash_record(version_id=version.pk, evidence="SIGSEGV") is True
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.QUARANTINED and version.crash_count == 2
    assert Notification.objects.filter(kind=Notification.Kind.VERSION_QUARANTINED).count() == 2  # staff + vendor


def _sync_message(version: ModelVersion, request_id: str) -> dict:
    return {"rid": request_id, "v": version.pk, "reply": f"infer:reply:{request_id}"}


def _marked(request_id: str) -> dict | None:
    raw = get_redis().hget(quarantine.running_key(), request_id)
    return json.loads(raw) if raw is not None else None


def test_a_run_is_marked_before_the_worker_reads_redis_answer(tiny):
    version = ModelVersion.objects.get(model=tiny)
    marks = quarantine.RunningMarks()
    marks.set(_sync_message(version, "r-early"))
    deadline = time.monotonic() + 2
    while _marked("r-early") is None and time.monotonic() < deadline:
        time.sleep(0.001)
    entry = _marked("r-early")
    assert entry is not None and marks.pending, "the mark is in Redis while its answer is still unread"
    assert entry["v"] == version.pk and entry["reply"] == "infer:reply:r-early"
    marks.settle()
    assert not marks.pending


def test_a_mark_lost_with_its_connection_is_logged_and_the_next_one_reconnects(tiny, caplog):
    version = ModelVersion.objects.get(model=tiny)
    marks = quarantine.RunningMarks()
    get_redis().client_kill_filter(_id=marks.client.client_id())  # Redis drops the lane's connection

    marks.set(_sync_message(version, "r-lost"))
    marks.settle()  # must not raise: the run it belongs to has already happened
    assert "goes unmarked" in caplog.text
    marks.set(_sync_message(version, "r-next"))
    marks.settle()
    assert _marked("r-next") is not None, "the next run is marked on a new connection"
