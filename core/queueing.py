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


def send_after_commit(name: str, *, args: list, unsent: Callable[[], None] | None = None) -> None:
    """Sends task `name` after the current transaction commits; see the module docstring."""

    def send() -> None:
        try:
            # ignore_result: nobody waits on these here, so the result store (the same Redis)
            # is neither subscribed to nor a second way for the send to fail.
            current_app.send_task(name, args=args, ignore_result=True)
        except OperationalError as exc:  # kombu's wrapper for every broker connection error
            log.warning("broker unavailable, %s%s left for its sweep: %s", name, tuple(args), type(exc).__name__)
            if unsent is not None:
                unsent()

    transaction.on_commit(send)
