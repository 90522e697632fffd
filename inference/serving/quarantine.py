"""Runtime crash accounting (SECURITY row 12).

A segfault in ONNX Runtime kills the whole worker process, so nothing in the process can count
it. Instead the worker marks each request in the `infer:running` hash before running it
(request -> version, host, pid, start time, and for async predictions what is needed to fail
them) and deletes the mark with its reply. Nothing is redelivered: a mark whose worker is dead
is a run that killed its worker. It counts one crash against the version, an async prediction
is failed (unbilled; a sync caller has had its 504 already), and the mark goes. After
INFERENCE_QUARANTINE_AFTER_CRASHES crashes the version is quarantined (the gateway stops routing
to it) and staff and the vendor get a recorded alert.

Every live inference worker sweeps the marks: when it starts (the supervisor restarting the one
that died) and every few seconds after. A worker on the same host is dead when its pid is; one
on another host when its heartbeat key (`infer:alive:<host>:<pid>`, refreshed by the same loop)
has expired. `crash_claim` makes sure one dead run is counted once, whichever sweeper sees it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F

from billing.models import Notification
from billing.services.metering import notification_raise
from core.redis import get_redis
from marketplace.models import ModelVersion

log = logging.getLogger(__name__)


@transaction.atomic
def version_crash_record(*, version_id: int) -> bool:
    """Count one crash; returns True when this crash quarantined the version."""
    ModelVersion.objects.filter(pk=version_id).update(crash_count=F("crash_count") + 1)
    version = ModelVersion.objects.select_related("model__organization").get(pk=version_id)
    log.warning("inference run of version %s died with its worker (crash %s)", version_id, version.crash_count)
    if version.crash_count < settings.INFERENCE_QUARANTINE_AFTER_CRASHES:
        return False
    changed = ModelVersion.objects.filter(pk=version_id, status=ModelVersion.Status.READY).update(
        status=ModelVersion.Status.QUARANTINED
    )
    if not changed:
        return False
    message = (
        f"Version {version.version} of {version.model.full_name} crashed the inference runtime "
        f"{version.crash_count} times and is quarantined; buyers are no longer routed to it. "
        "Inspect the graph before releasing it."
    )
    notification_raise(organization_id=None, kind=Notification.Kind.VERSION_QUARANTINED,
                       subject=f"version:{version_id}", period="", threshold=100, message=message)
    notification_raise(organization_id=version.model.organization_id,
                       kind=Notification.Kind.VERSION_QUARANTINED, subject=f"vendor-version:{version_id}",
                       period="", threshold=100, message=message)
    return True


HEARTBEAT_SECONDS = 3.0
HEARTBEAT_TTL_SECONDS = 15


def running_key() -> str:
    return "infer:running"


def running_entry(message: dict) -> str:
    entry = {"v": message["v"], "host": socket.gethostname(), "pid": os.getpid(), "t": time.time()}
    if message.get("prediction"):
        entry["prediction"] = message["prediction"]  # ids, reservation, webhook: never the inputs
    return json.dumps(entry)


def alive_key(host: str, pid: int) -> str:
    return f"infer:alive:{host}:{pid}"


def heartbeat() -> None:
    get_redis().set(alive_key(socket.gethostname(), os.getpid()), 1, ex=HEARTBEAT_TTL_SECONDS)


def crash_claim(request_id: str) -> bool:
    """True for the first caller that counts this request's dead run."""
    return bool(get_redis().set(f"infer:crashed:{request_id}", 1, nx=True, ex=24 * 3600))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _worker_alive(entry: dict) -> bool:
    if entry["host"] == socket.gethostname():
        return _pid_alive(entry["pid"])
    return bool(get_redis().exists(alive_key(entry["host"], entry["pid"])))


def recover_dead_runs() -> int:
    """Count the runs that dead workers left behind; returns how many."""
    client = get_redis()
    counted = 0
    stale_after = settings.CELERY_TASK_TIME_LIMIT + settings.INFERENCE_TIMEOUT_SECONDS
    alive: dict[tuple[str, int], bool] = {}  # one check per worker, however many runs it has
    for request_id, raw in client.hgetall(running_key()).items():
        entry = json.loads(raw)
        worker = (entry["host"], entry["pid"])
        if worker not in alive:
            alive[worker] = _worker_alive(entry)
        if alive[worker]:
            if time.time() - entry.get("t", time.time()) > stale_after:
                client.hdel(running_key(), request_id)  # answered, but the reply lost its connection
            continue
        if crash_claim(request_id.decode()):
            quarantined = version_crash_record(version_id=entry["v"])
            if entry.get("prediction"):
                _fail_prediction(request_id.decode(), entry)
            counted += 1
            if quarantined:
                log.warning("version %s quarantined after runtime crashes", entry["v"])
        client.hdel(running_key(), request_id)
    return counted


def _fail_prediction(request_id: str, entry: dict) -> None:
    from inference.predictions import prediction_finish

    prediction_finish(message={"rid": request_id, "v": entry["v"], "prediction": entry["prediction"]},
                      result={"status": 500, "code": "runtime_crash",
                              "error": "the model crashed the inference runtime on this request; "
                                       "it was not retried and you were not billed"})


class Watch:
    """The heartbeat and sweep loop of one inference worker process."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="crash-watch", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)

    def _loop(self) -> None:
        while True:
            try:
                heartbeat()
                recovered = recover_dead_runs()
                if recovered:
                    log.warning("counted %s inference runs that died with their worker", recovered)
            except Exception as exc:  # noqa: BLE001 - Redis or the database away: try next time
                log.warning("could not check for runs of dead workers: %s", type(exc).__name__)
            if self.stopping.wait(HEARTBEAT_SECONDS):
                return
