import os
import socket

from celery import shared_task
from django.core.cache import cache
from django.core.mail import send_mail
from django.utils import timezone

from core.mail import EMAIL_MAX_RETRIES, retried_while_mail_server_unavailable


@shared_task(name="core.tasks.ping", acks_late=False)
def ping() -> dict:
    """Answers with who ran it: proof that a worker process is alive and consuming."""
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "at": timezone.now().isoformat()}


@shared_task(name="core.tasks.heartbeat", acks_late=False, ignore_result=True)
def heartbeat() -> None:
    """Beat's own pulse; the staff dashboard shows beat as down when this goes stale."""
    cache.set("beat:last_heartbeat", timezone.now().isoformat(), timeout=None)


@shared_task(name="core.tasks.email_send", bind=True, max_retries=EMAIL_MAX_RETRIES, ignore_result=True)
def email_send(self, subject: str, message: str, recipients: list[str]) -> None:
    """An email core.mail could not send at once (see there)."""
    with retried_while_mail_server_unavailable(self):
        send_mail(subject, message, None, recipients)
