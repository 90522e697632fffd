import os
import socket

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone


@shared_task(name="core.tasks.ping", acks_late=False)
def ping() -> dict:
    """Answers with who ran it: proof that a worker process is alive and consuming."""
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "at": timezone.now().isoformat()}


@shared_task(name="core.tasks.heartbeat", acks_late=False, ignore_result=True)
def heartbeat() -> None:
    """Beat's own pulse; the staff dashboard shows beat as down when this goes stale."""
    cache.set("beat:last_heartbeat", timezone.now().isoformat(), timeout=None)
