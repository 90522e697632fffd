"""Email that neither fails nor stalls the request that caused it.

A mail server that is down or refusing must not turn a committed change (an account, an
invitation) into a 500 the user would retry, and must not lose the message. So one attempt is
made now, bounded by EMAIL_TIMEOUT; if the server is away, the message goes to the `default`
queue, where core.tasks.email_send tries again with backoff for hours. Mail that is not needed
within the request (usage alerts, raised on the inference path) is queued without any attempt.

What is logged is the kind of failure, never the recipients or the text: links in the text are
credentials. The queued message holds both, in the broker only, until it is sent.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.mail import send_mail
from django.db import transaction

from core.queueing import send

log = logging.getLogger("modelbay.mail")

SEND_TASK = "core.tasks.email_send"
# How Django's SMTP backend fails when the server is unreachable, slow or refusing.
MAIL_SERVER_ERRORS = (smtplib.SMTPException, OSError)
# Waits between tries double from a minute and stop growing at half an hour: below the broker's
# visibility timeout, after which Redis would hand a waiting retry to a second worker (a double
# email). Twelve tries span about four hours of outage.
EMAIL_MAX_RETRIES = 12
EMAIL_RETRY_MAX_SECONDS = 1800


class MailServerUnavailable(Exception):
    """Stands in for the server's error in retries and logs: its text can name the recipients."""


def email(*, subject: str, message: str, recipients: list[str]) -> bool:
    """Sends now; if the mail server is unavailable, queues it to be tried again. True if sent now."""
    try:
        send_mail(subject, message, None, recipients)
        return True
    except MAIL_SERVER_ERRORS as exc:
        log.warning("mail server unavailable (%s); the email is queued to be tried again", type(exc).__name__)
        email_later(subject=subject, message=message, recipients=recipients)
        return False


def email_after_commit(*, subject: str, message: str, recipients: list[str]) -> None:
    """`email` once the current transaction commits, so a link never names a row rolled back."""
    transaction.on_commit(lambda: email(subject=subject, message=message, recipients=recipients))


def email_later(*, subject: str, message: str, recipients: list[str], countdown: int = 60) -> None:
    # In kwargs, which core.queueing never logs. The broker away too: nothing left to keep it in.
    send(SEND_TASK, kwargs={"subject": subject, "message": message, "recipients": recipients}, countdown=countdown,
         unsent=lambda: log.error("email lost: mail server and broker both unavailable"))


@contextmanager
def retried_while_mail_server_unavailable(task) -> Iterator[None]:
    """In a bound task that sends mail: the mail server's errors become a retry with backoff."""
    try:
        yield
    except MAIL_SERVER_ERRORS as exc:
        countdown = min(EMAIL_RETRY_MAX_SECONDS, 60 * 2**task.request.retries)
        raise task.retry(exc=MailServerUnavailable(type(exc).__name__), countdown=countdown) from None
