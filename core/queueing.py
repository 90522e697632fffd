"""Queueing a task for work a transaction has just committed.

Once the rows are committed, the request that wrote them has succeeded: a broker that cannot
take the message right then (Redis restarting, unreachable) must not turn that into a 500 the
client would retry, creating the work twice. The failure is logged, `unsent` leaves a mark for
the beat sweep that owns this kind of work, and the sweep sends it once the broker is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import current_app
from django.db import transaction
from kombu.exceptions import OperationalError

log = logging.getLogger("modelbay.queueing")


def send(name: str, *, args: list | tuple = (), kwargs: dict | None = None, countdown: float | None = None,
         unsent: Callable[[], None] | None = None) -> bool:
    """Sends task `name` now; False (logged, `unsent` called) when the broker cannot take it.
    Only the name and the positional args are logged: keep anything private in kwargs."""
    try:
        # ignore_result: nobody waits on these here, so the result store (the same Redis)
        # is neither subscribed to nor a second way for the send to fail.
        current_app.send_task(name, args=list(args), kwargs=kwargs, countdown=countdown, ignore_result=True)
        return True
    except OperationalError as exc:  # kombu's wrapper for every broker connection error
        log.warning("broker unavailable, %s%s not sent: %s", name, tuple(args), type(exc).__name__)
        if unsent is not None:
            unsent()
        return False


def send_after_commit(name: str, *, args: list, unsent: Callable[[], None] | None = None) -> None:
    """`send` after the current transaction commits; see the module docstring."""
    transaction.on_commit(lambda: send(name, args=args, unsent=unsent))
