"""A per-process cache of API keys by hash, which every process drops the moment a key changes.

Authenticating from memory keeps a database query off every inference request. To make a
revocation reach other processes on their very next call, each key has a generation counter in
Redis (`mb:apikey:gen:<hash>`, absent = 0). Authentication reads it (one GET, in the same round
trip as the failure throttle) and trusts a cached row only if it was loaded under that same
generation; revoking bumps the counter now and again after commit (`publish_change`), so a row read
before the commit can never be served after it, even if a concurrent request cached it late.

API_KEY_CACHE_SECONDS only bounds an entry's life in case Redis loses the counters (a restart
without persistence sets them back to 0, which an old entry could match).
"""

import threading
import time

from django.conf import settings
from django.db import transaction

from core.redis import get_redis

_lock = threading.Lock()
_entries: dict[str, tuple[float, int, object]] = {}
_MAX_ENTRIES = 10_000
# Counters outlive any cache entry by far; expiring them keeps revoked keys from piling up.
_GENERATION_TTL_SECONDS = 24 * 3600


def generation_key(hashed: str) -> str:
    """The Redis key of a key's generation; readable by any process with core.redis.get_redis."""
    return f"mb:apikey:gen:{hashed}"


def get(hashed: str, generation: int):
    entry = _entries.get(hashed)
    if entry is None or entry[0] < time.monotonic() or entry[1] != generation:
        return None
    return entry[2]


def put(hashed: str, generation: int, api_key) -> None:
    with _lock:
        if len(_entries) >= _MAX_ENTRIES:
            _entries.clear()  # crude but bounded; a miss only costs one query
        _entries[hashed] = (time.monotonic() + settings.API_KEY_CACHE_SECONDS, generation, api_key)


def forget_key(hashed: str) -> None:
    """Drops this process's copy only; other processes learn of changes through publish_change."""
    with _lock:
        _entries.pop(hashed, None)


def _bump(hashed: str) -> None:
    with get_redis().pipeline(transaction=False) as pipe:
        pipe.incr(generation_key(hashed))
        pipe.expire(generation_key(hashed), _GENERATION_TTL_SECONDS)
        pipe.execute()
    forget_key(hashed)


def publish_change(hashed: str) -> None:
    """Every process refuses its cached copy of this key from its next call on.

    Bumped at once (so no process serves the old row while the change commits) and again after
    commit (so a row a concurrent request read before the commit, and cached under the first
    bump's number, is dropped too)."""
    _bump(hashed)
    transaction.on_commit(lambda: _bump(hashed))


def clear() -> None:
    with _lock:
        _entries.clear()
