"""Canary scanner: is a string anywhere in the database or in captured log output?

Used by privacy tests (SECURITY.md rows 26-27): put a unique canary into a payload or personal
field, do the thing, then assert `canary_hits(canary, caplog=caplog) == []`.
"""

from django.apps import apps
from django.db import connection, models

_TEXT_TYPES = (models.CharField, models.TextField, models.JSONField, models.EmailField,
               models.GenericIPAddressField, models.BinaryField)


def _text_columns() -> list[tuple[str, str, bool]]:
    """(table, column, is_binary) for every text-like column of every table Django knows."""
    columns = []
    existing = set(connection.introspection.table_names())
    for model in apps.get_models(include_auto_created=True):
        table = model._meta.db_table
        if table not in existing:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, _TEXT_TYPES):
                columns.append((table, field.column, isinstance(field, models.BinaryField)))
    return columns


def db_hits(canary: str) -> list[str]:
    """`table.column` for each column with a row containing the canary (text, JSON, bytes)."""
    hits = []
    needle = canary.encode()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column, binary in _text_columns():
            if binary:
                cursor.execute(f"SELECT {quote(column)} FROM {quote(table)}")  # noqa: S608 - names from the schema
                if any(row[0] is not None and needle in bytes(row[0]) for row in cursor.fetchall()):
                    hits.append(f"{table}.{column}")
                continue
            cast = "TEXT" if connection.vendor != "postgresql" else "text"
            cursor.execute(
                f"SELECT 1 FROM {quote(table)} WHERE CAST({quote(column)} AS {cast}) LIKE %s LIMIT 1",  # noqa: S608
                [f"%{canary}%"],
            )
            if cursor.fetchone():
                hits.append(f"{table}.{column}")
    return hits


def log_hits(canary: str, caplog=None, capsys=None) -> list[str]:
    hits = []
    if caplog is not None and any(canary in r.getMessage() or canary in (r.exc_text or "") for r in caplog.records):
        hits.append("log records")
    if caplog is not None and canary in caplog.text:
        hits.append("log text")
    if capsys is not None:
        out, err = capsys.readouterr()
        if canary in out or canary in err:
            hits.append("stdout/stderr")
    return hits


def canary_hits(canary: str, *, caplog=None, capsys=None) -> list[str]:
    """Everywhere the canary was found; an empty list means it was stored nowhere we can see."""
    return db_hits(canary) + log_hits(canary, caplog=caplog, capsys=capsys)
