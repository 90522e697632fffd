"""Celery tasks of billing (default queue). They take ids, claim work idempotently and call a
service; retry policy lives here."""

from __future__ import annotations

import logging
from datetime import timedelta

import stripe
from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from billing.models import StripeEvent
from billing.stripe_client import stripe_enabled
from core.mail import EMAIL_MAX_RETRIES, retried_while_mail_server_unavailable
from core.redis import get_redis

log = logging.getLogger(__name__)


@shared_task(name="billing.tasks.stripe_event_process", bind=True, max_retries=8, ignore_result=True)
def stripe_event_process(self, event_id: str) -> None:
    from billing.services.webhooks import webhook_process

    try:
        webhook_process(event_id=event_id)
    except Exception as exc:  # the event is marked failed; retry with backoff, then beat picks it up
        log.warning("stripe event %s failed: %s", event_id, type(exc).__name__)
        raise self.retry(exc=exc, countdown=min(300, 2 ** self.request.retries * 5)) from None


@shared_task(name="billing.tasks.webhook_events_retry", acks_late=False, ignore_result=True)
def webhook_events_retry() -> int:
    """Beat: events left failed, or received but never picked up (a lost message)."""
    cutoff = timezone.now() - timedelta(minutes=5)
    stuck = StripeEvent.objects.filter(
        Q(status=StripeEvent.Status.FAILED) | Q(status=StripeEvent.Status.RECEIVED, received_at__lt=cutoff)
        | Q(status=StripeEvent.Status.PROCESSING, claimed_at__lt=timezone.now() - timedelta(minutes=10)),
        attempts__lt=20)
    ids = list(stuck.values_list("id", flat=True)[:500])
    for event_id in ids:
        stripe_event_process.delay(event_id)
    return len(ids)


def _single(name: str, seconds: int):
    """One run at a time across workers and beat overlaps; None when another run holds it."""
    lock = get_redis().lock(f"lock:billing:{name}", timeout=seconds, blocking_timeout=0)
    return lock if lock.acquire() else None


@shared_task(name="billing.tasks.stripe_objects_sync", acks_late=False, ignore_result=True)
def stripe_objects_sync() -> dict | None:
    from billing.services.subscription_sync import stripe_objects_sync as sync

    if not stripe_enabled() or (lock := _single("objects", 300)) is None:
        return None
    try:
        return sync()
    finally:
        lock.release()


@shared_task(name="billing.tasks.usage_sync", bind=True, acks_late=False, ignore_result=True,
             autoretry_for=(stripe.StripeError,), retry_backoff=30, max_retries=3)
def usage_sync(self, organization_id: int | None = None, flush: bool = False) -> dict | None:
    from accounts.models import Organization
    from billing.services.subscription_sync import stripe_objects_sync as objects
    from billing.services.usage_sync import usage_sync as sync

    if not stripe_enabled():
        return None
    organization = Organization.objects.get(pk=organization_id) if organization_id else None
    if organization is None:
        objects()
    return sync(organization=organization, flush=flush)


@shared_task(name="billing.tasks.reconcile", acks_late=False, ignore_result=True)
def reconcile() -> int | None:
    from billing.services.reconciliation import reconciliation_run

    if (lock := _single("reconcile", 3600)) is None:
        return None
    try:
        return reconciliation_run().pk
    finally:
        lock.release()


@shared_task(name="billing.tasks.local_invoices_close", acks_late=False, ignore_result=True)
def local_invoices_close() -> int:
    """Monthly, local-ledger mode only: invoice last calendar month from the ledger."""
    from billing.services.invoices import local_invoices_close as close

    if stripe_enabled():
        return 0
    end = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end - timedelta(days=1)).replace(day=1)
    return close(period_start=start, period_end=end)


@shared_task(name="billing.tasks.alert_email", bind=True, max_retries=EMAIL_MAX_RETRIES, ignore_result=True)
def alert_email(self, notification_id: int) -> None:
    from billing.services.alerts import alert_email_send

    with retried_while_mail_server_unavailable(self):
        alert_email_send(notification_id=notification_id)
