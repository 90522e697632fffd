"""Marketplace beat tasks."""

from celery import shared_task

from marketplace.services.uploads import uploads_expire as _uploads_expire


@shared_task(name="marketplace.tasks.uploads_expire")
def uploads_expire() -> int:
    """Expire multipart upload sessions idle past MODELBAY_UPLOAD_SESSION_TTL_SECONDS, deleting their
    parts. Each session is closed by a conditional update, so overlapping runs do not collide."""
    return _uploads_expire()
