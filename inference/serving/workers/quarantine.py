"""Runtime crash accounting (SECURITY row 12), on evidence tied to a version.

A segfault in ONNX Runtime kills the whole worker process, so nothing in the process can count
it. Each run therefore leaves a running mark in the `infer:running` hash (request -> version,
host, pid, start time; for async predictions the ids and reservation, never the inputs), deleted
with its answer. Every live inference worker sweeps the marks: when it starts (the supervisor
restarting the one that died) and every few seconds after. A worker on the same host is dead
when its pid is; one on another host when its heartbeat key (`infer:alive:<host>:<pid>`) has
expired.

What a dead worker's marks mean — and do not mean:

- One worker death is **one incident**, however many runs it had in flight: staff get one
  notice naming the versions that were running, each sync caller gets a 503 at once (not a
  timeout), each async prediction is finished from the evidence (async_finish).
- A death does not say which model caused it: an operator's kill -9, the OOM killer or a bug
  elsewhere kill a worker just as well. So the versions in flight become *suspects*, nothing
  more: a suspect version keeps serving, but each of its runs goes to a child process of its
  own (runtime/isolated.py), one request at a time.
- Evidence is a suspect's isolated child dying while it runs one request of that version alone.
  That counts one crash; after INFERENCE_QUARANTINE_AFTER_CRASHES of them the version is
  quarantined (buyers are told to call another version) and staff and the vendor are notified.
  After INFERENCE_PROBATION_RUNS clean isolated runs a suspect is cleared. A kill -9 during load
  therefore never quarantines a model that runs fine.

Marks of this very worker that it no longer runs are orphans (the run ended but Redis was away
when it tried to clear the mark): they are settled the same way after a grace period.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F

from billing.models import Notification
from billing.services.metering import notification_raise
from core.redis import get_redis
from inference.serving.lanes import replies
from inference.serving.workers import async_finish
from marketplace.models import ModelVersion

log = logging.getLogger(__name__)

HEARTBEAT_TTL_SECONDS = 15
SUSPECTS_KEY = "infer:suspects"  # version id -> {"since", "incident"}
PROBATION_KEY = "infer:probation"  # version id -> clean isolated runs since it became suspect


def running_key() -> str:
    return "infer:running"


def running_entry(message: dict) -> str:
    """The mark of a sync run: enough to answer its caller if this process dies."""
    return json.dumps({"v": message["v"], "host": socket.gethostname(), "pid": os.getpid(), "t": time.time(),
                       "reply": message.get("reply")})


class RunningMarks:
    """One lane thread's running marks, set without waiting for Redis's answer.

    `set` writes the HSET on this thread's own connection and returns; the run starts while
    Redis applies it, and `settle` reads the answer after the run. A sync call so spends no round
    trip on its mark: 42 us to send it against 118 us for the whole HSET (localhost Redis,
    measured). The command is in Redis's socket before the run starts and Redis applies it
    within microseconds, so a worker that dies in the run (milliseconds later) is found by the
    sweep as before. A write that fails (Redis away) is reported by `settle` and logged; that
    run goes unmarked, as it did when the HSET before it failed, and its reply meets the same
    outage."""

    def __init__(self) -> None:
        self.client = replies.worker_redis(single_connection=True)
        self.pending = False

    @contextmanager
    def running(self, message: dict) -> Iterator[None]:
        """The run inside is marked; the mark's answer is read when it ends, however it ends."""
        self.set(message)
        try:
            yield
        finally:
            self.settle()

    def set(self, message: dict) -> None:
        try:
            self.client.connection.send_command("HSET", running_key(), message["rid"], running_entry(message))
            self.pending = True
        except redis.RedisError as exc:
            self._lost(exc)

    def settle(self) -> None:
        if not self.pending:
            return
        self.pending = False
        try:
            self.client.connection.read_response()
        except redis.RedisError as exc:
            self._lost(exc)

    def _lost(self, exc: Exception) -> None:
        log.warning("could not mark a run as running (%s); it goes unmarked", type(exc).__name__)
        self.client.connection.disconnect()  # the next `set` reconnects


def alive_key(host: str, pid: int) -> str:
    return f"infer:alive:{host}:{pid}"


def heartbeat() -> None:
    get_redis().set(alive_key(socket.gethostname(), os.getpid()), 1, ex=HEARTBEAT_TTL_SECONDS)


# ---------------------------------------------------------------- suspects and evidence

class Suspects:
    """This process's view of the suspect versions: refreshed by every sweep, and at once when
    this process adds or clears one. Other processes learn within one sweep."""

    def __init__(self) -> None:
        self._ids: frozenset[int] = frozenset()

    def __contains__(self, version_id: int) -> bool:
        return version_id in self._ids

    def refresh(self) -> None:
        self._ids = frozenset(int(v) for v in get_redis().hkeys(SUSPECTS_KEY))

    def add(self, version_ids: set[int]) -> None:
        self._ids = self._ids | frozenset(version_ids)

    def discard(self, version_id: int) -> None:
        self._ids = self._ids - {version_id}


suspects = Suspects()


def suspect(*, version_ids: set[int], incident: str) -> None:
    pipe = get_redis().pipeline(transaction=False)
    for version_id in version_ids:
        pipe.hset(SUSPECTS_KEY, version_id, json.dumps({"since": time.time(), "incident": incident}))
        pipe.hset(PROBATION_KEY, version_id, 0)
    pipe.execute()
    suspects.add(version_ids)


def probation_pass(*, version_id: int) -> bool:
    """One clean isolated run; True when it cleared the version."""
    client = get_redis()
    clean = client.hincrby(PROBATION_KEY, version_id, 1)
    if clean < settings.INFERENCE_PROBATION_RUNS:
        return False
    client.hdel(SUSPECTS_KEY, version_id)
    client.hdel(PROBATION_KEY, version_id)
    suspects.discard(version_id)
    log.info("version %s cleared after %s clean isolated runs", version_id, clean)
    return True


@transaction.atomic
def version_crash_record(*, version_id: int, evidence: str) -> bool:
    """Count one crash proven against the version; True when this crash quarantined it."""
    ModelVersion.objects.filter(pk=version_id).update(crash_count=F("crash_count") + 1)
    get_redis().hset(PROBATION_KEY, version_id, 0)  # a crash restarts its probation
    version = ModelVersion.objects.select_related("model__organization").get(pk=version_id)
    log.warning("version %s crashed its isolated runtime (%s; crash %s)", version_id, evidence, version.crash_count)
    if version.crash_count < settings.INFERENCE_QUARANTINE_AFTER_CRASHES:
        return False
    changed = ModelVersion.objects.filter(pk=version_id, status=ModelVersion.Status.READY).update(
        status=ModelVersion.Status.QUARANTINED
    )
    if not changed:
        return False
    message = (
        f"Version {version.version} of {version.model.full_name} crashed the inference runtime "
        f"{version.crash_count} times while running alone in an isolated process ({evidence}); it is "
        "quarantined and buyers are no longer routed to it. Inspect the graph before releasing it."
    )
    for organization_id, subject in ((None, f"version:{version_id}"),
                                     (version.model.organization_id, f"vendor-version:{version_id}")):
        notification_raise(organization_id=organization_id, kind=Notification.Kind.VERSION_QUARANTINED,
                           subject=subject, period="", threshold=100, message=message)
    return True


# ---------------------------------------------------------------- the sweep

def pid_alive(pid: int) -> bool:
    """Whether a process of this host with this pid exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _worker_alive(host: str, pid: int) -> bool:
    if host == socket.gethostname():
        return pid_alive(pid)
    return bool(get_redis().exists(alive_key(host, pid)))


def sweep(*, active: set[str] | frozenset[str] = frozenset()) -> int:
    """Settle the runs that dead workers left behind (and this worker's orphans, `active` being
    the request ids it is running now); returns how many were settled."""
    client = get_redis()
    me = (socket.gethostname(), os.getpid())
    by_worker: dict[tuple[str, int], list[tuple[str, dict]]] = defaultdict(list)
    for request_id, raw in client.hgetall(running_key()).items():
        entry = json.loads(raw)
        by_worker[(entry["host"], int(entry["pid"]))].append((request_id.decode(), entry))
    settled = 0
    stale_after = settings.CELERY_TASK_TIME_LIMIT + settings.INFERENCE_TIMEOUT_SECONDS
    for worker, runs in by_worker.items():
        now = time.time()
        if worker == me:
            grace = settings.INFERENCE_ORPHAN_GRACE_SECONDS
            runs = [(r, e) for r, e in runs if r not in active and now - e.get("t", now) > grace]
        elif _worker_alive(*worker):
            for request_id, entry in runs:
                if now - entry.get("t", now) > stale_after:
                    _settle(request_id, entry)  # answered long ago, but the mark outlived its reply
            continue
        elif client.set(f"infer:incident:{worker[0]}:{worker[1]}", 1, nx=True, ex=24 * 3600):
            _incident(worker, runs)
        for request_id, entry in runs:
            _settle(request_id, entry)
            settled += 1
    return settled


def _incident(worker: tuple[str, int], runs: list[tuple[str, dict]]) -> None:
    versions = {int(entry["v"]) for _, entry in runs}
    incident = f"worker:{worker[0]}:{worker[1]}"
    # Isolation runs tensor models; a language model in flight is named, not made a suspect.
    tensor_versions = {int(entry["v"]) for _, entry in runs if not entry.get("llm")}
    if tensor_versions:
        suspect(version_ids=tensor_versions, incident=incident)
    names = ", ".join(f"{v.model.full_name} {v.version}" for v in
                      ModelVersion.objects.select_related("model__organization").filter(pk__in=versions))
    notification_raise(
        organization_id=None, kind=Notification.Kind.WORKER_DIED, subject=incident, period="", threshold=100,
        message=(f"Inference worker {worker[0]} pid {worker[1]} died with {len(runs)} run(s) in flight"
                 + (f" on {names}" if names else "") + ". Their callers were answered unbilled. "
                 + ("The versions in flight now run isolated until they prove healthy; one that crashes its "
                    "isolated runtime is quarantined." if tensor_versions else "")),
    )
    log.warning("%s died with %s runs in flight (versions %s)", incident, len(runs), sorted(versions))


def _settle(request_id: str, entry: dict) -> None:
    if entry.get("prediction"):
        async_finish.finish_by_evidence(request_id=request_id, entry=entry)
        return
    client = get_redis()
    pipe = client.pipeline(transaction=False)
    if entry.get("reply"):
        billed = ("you were billed only for the tokens already delivered" if entry.get("llm")
                  else "you were not billed")
        pipe.lpush(entry["reply"], json.dumps({
            "status": 503, "code": "worker_died",
            "error": f"the inference worker running this call stopped; {billed}; retry shortly"}))
        pipe.expire(entry["reply"], replies.REPLY_TTL_SECONDS)
    pipe.hdel(running_key(), request_id)
    pipe.execute()


class Watch:
    """The heartbeat and sweep loop of one inference worker process."""

    def __init__(self, active: set[str]) -> None:
        self.active = active
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="crash-watch", daemon=True)

    def start(self) -> None:
        self.once()  # before serving: the replaced worker's runs are settled and its suspects known
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)

    def once(self) -> None:
        try:
            heartbeat()
            settled = sweep(active=frozenset(self.active))
            suspects.refresh()
            if settled:
                log.warning("settled %s inference runs that their worker left behind", settled)
        except Exception as exc:  # noqa: BLE001 - Redis or the database away: try next time
            log.warning("could not check for runs of dead workers: %s", type(exc).__name__)

    def _loop(self) -> None:
        while not self.stopping.wait(settings.INFERENCE_SWEEP_SECONDS):
            self.once()
