"""Beat job: async results that outlived their organization's data policy are deleted."""

import logging

from celery import shared_task
from django.conf import settings

from accounts.models import Organization
from accounts.privacy import result_ttl_seconds
from core.redis import get_redis

logger = logging.getLogger("modelbay.retention")
_LOCK = "lock:accounts.retention_purge"


@shared_task(name="accounts.tasks.retention_purge", acks_late=False, ignore_result=True)
def retention_purge() -> int:
    """One pass over the result keys: a key is deleted when its organization's policy allows no
    storage (zero retention, erased, unknown organization), when it has no expiry, or when its
    remaining lifetime exceeds the policy (the policy was shortened after it was stored)."""
    redis = get_redis()
    # One run at a time across workers; an overlapping delivery is a no-op.
    if not redis.set(_LOCK, "1", nx=True, ex=240):
        return 0
    try:
        prefix = settings.ASYNC_RESULT_KEY_PREFIX
        allowed: dict[int, int] = {}
        deleted = 0
        for raw in redis.scan_iter(match=f"{prefix}*", count=1000):
            key = raw.decode()
            org_part = key[len(prefix):].split(":", 1)[0]
            org_id = int(org_part) if org_part.isdigit() else -1
            if org_id not in allowed:
                org = Organization.objects.filter(pk=org_id).only(
                    "pk", "data_policy", "retention_minutes", "erased_at").first()
                allowed[org_id] = result_ttl_seconds(org) if org else 0
            ttl = redis.ttl(raw)
            if allowed[org_id] <= 0 or ttl == -1 or ttl > allowed[org_id]:
                deleted += redis.delete(raw)
        if deleted:
            logger.info("retention purge deleted %d async results past their policy", deleted)
        return deleted
    finally:
        redis.delete(_LOCK)
