"""A small per-process cache of API keys by hash.

Authenticating from memory keeps a database query off every inference request. Entries live
API_KEY_CACHE_SECONDS, so a key revoked in another process stops working within that time; the
revoking process forgets it at once.
"""

import threading
import time

from django.conf import settings

_lock = threading.Lock()
_entries: dict[str, tuple[float, object]] = {}
_MAX_ENTRIES = 10_000


def get(hashed: str):
    entry = _entries.get(hashed)
    if entry is None or entry[0] < time.monotonic():
        return None
    return entry[1]


def put(hashed: str, api_key) -> None:
    with _lock:
        if len(_entries) >= _MAX_ENTRIES:
            _entries.clear()  # crude but bounded; a miss only costs one query
        _entries[hashed] = (time.monotonic() + settings.API_KEY_CACHE_SECONDS, api_key)


def forget_key(hashed: str) -> None:
    with _lock:
        _entries.pop(hashed, None)


def clear() -> None:
    with _lock:
        _entries.clear()
