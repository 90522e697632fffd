"""Runtime crash accounting (SECURITY row 12).

A segfault in ONNX Runtime kills the whole worker process, so nothing in the process can count
it. Instead the worker marks each request in Redis before running it (`infer:attempt:<id>`,
INCR) and deletes the mark after. A delivery that finds the mark already set is a redelivery of
a request whose run never finished: the worker that ran it died. That counts one crash against
the version and the request is answered with an error instead of being run again, so a poison
request cannot loop. After INFERENCE_QUARANTINE_AFTER_CRASHES crashes the version is
quarantined (the gateway stops routing to it) and staff get a recorded alert.

Redelivery only happens after the broker's visibility timeout (an hour by default), so each
worker also lists what it is running under `infer:running:<host>` (request -> version, pid).
A worker starting on that host (the supervisor restarting the one that died) counts the runs
of dead pids at once. `crash_claim` makes sure one dead run is counted once, whichever of the
two paths sees it first.
"""

from __future__ import annotations

import json
import logging
import os
import socket

from celery.signals import worker_ready
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


def running_key() -> str:
    return f"infer:running:{socket.gethostname()}"


def running_entry(version_id: int) -> str:
    return json.dumps({"v": version_id, "pid": os.getpid()})


def crash_claim(request_id: str) -> bool:
    """True for the first caller that counts this request's dead run."""
    return bool(get_redis().set(f"infer:crashed:{request_id}", 1, nx=True, ex=24 * 3600))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_dead_runs() -> int:
    """Count the runs that workers of this host left behind when they died; returns how many."""
    client = get_redis()
    counted = 0
    for request_id, raw in client.hgetall(running_key()).items():
        entry = json.loads(raw)
        if _alive(entry["pid"]):
            continue
        if crash_claim(request_id.decode()):
            version_crash_record(version_id=entry["v"])
            counted += 1
        client.hdel(running_key(), request_id)
    return counted


@worker_ready.connect
def _count_crashes_of_the_last_worker(**_) -> None:
    try:
        recovered = recover_dead_runs()
    except Exception as exc:  # noqa: BLE001 - never keep a worker from starting
        log.warning("could not check for runs of dead workers: %s", type(exc).__name__)
        return
    if recovered:
        log.warning("counted %s inference runs that died with a previous worker", recovered)
