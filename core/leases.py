"""Keeping a claim alive while long work runs.

A claim (a pipeline stage, an upload being completed) is a timestamp others read as "someone is
on it". The work's own thread cannot stop to renew it, so a thread beside it does, every `every`
seconds until the work ends. A process that dies stops renewing, and the claim lapses after its
lease for someone else to take.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

log = logging.getLogger("modelbay.leases")


@contextmanager
def renewed(renew: Callable[[], object], *, every: float, name: str) -> Iterator[None]:
    """Calls `renew` every `every` seconds from a thread of its own while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                try:
                    renew()
                except DatabaseError as exc:  # the next beat tries again; the lease has slack for it
                    log.warning("%s: renewing the claim failed: %s", name, type(exc).__name__)
        finally:
            connection.close()  # this thread's own DB connection

    thread = threading.Thread(target=beat, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
