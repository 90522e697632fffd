"""Stripe webhooks: verify, store once, process in a task by re-reading the object.

`webhook_receive` verifies the signature (`construct_event`) before anything is written, then
inserts the event by its id if absent; a duplicate delivery finds the row and is acknowledged.
`webhook_process` handles one stored event. Handlers never trust the event's snapshot: they
re-fetch the invoice, subscription or account, so a late or repeated event just mirrors the
current state again and the final state is right whatever the delivery order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import StripeCustomer, StripeEvent, StripeSubscription, UsageWindow
from billing.services.delinquency import delinquency_lift, delinquency_mark
from billing.services.invoices import invoice_mirror
from billing.services.payouts import payouts_for_invoice, vendor_account_refresh
from billing.services.usage_sync import usage_sync
from billing.stripe_client import require_client
from core.errors import InvalidInput
from core.queueing import send_after_commit

log = logging.getLogger(__name__)
PROCESS_TASK = "billing.tasks.stripe_event_process"


def webhook_receive(*, payload: bytes, signature: str) -> tuple[StripeEvent, bool]:
    """(event, created). Raises InvalidInput (400) on a bad signature, before any write."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise InvalidInput("Stripe webhooks are not configured here (no STRIPE_WEBHOOK_SECRET).",
                           code="webhook_not_configured")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except (ValueError, stripe.SignatureVerificationError):
        raise InvalidInput("The Stripe-Signature header does not verify against the endpoint secret.",
                           code="bad_signature") from None
    data = json.loads(payload)  # the verified bytes as sent (the SDK's objects hold Decimals)
    obj = data.get("data", {}).get("object") or {}
    try:
        with transaction.atomic():
            row = StripeEvent.objects.create(
                id=event.id, type=event.type, object_id=str(obj.get("id") or "")[:64],
                created=datetime.fromtimestamp(event.created, tz=UTC), payload=data)
    except IntegrityError:
        return StripeEvent.objects.get(pk=event.id), False
    # By name: the task module calls this one (tasks above services), not the other way. If the
    # broker refuses it, the stored event is still acknowledged: webhook_events_retry (beat)
    # picks up received events nobody processed.
    send_after_commit(PROCESS_TASK, args=[row.pk])
    return row, True


def webhook_claim(*, event_id: str, lease_seconds: int = 600) -> StripeEvent | None:
    """Takes the event for processing once; a stale claim (a worker died) can be taken over."""
    now = timezone.now()
    stale = now - timedelta(seconds=lease_seconds)
    claimable = StripeEvent.objects.filter(pk=event_id).filter(
        status__in=[StripeEvent.Status.RECEIVED, StripeEvent.Status.FAILED]) | \
        StripeEvent.objects.filter(pk=event_id, status=StripeEvent.Status.PROCESSING, claimed_at__lt=stale)
    row = claimable.first()
    if row is None:
        return None
    won = StripeEvent.objects.filter(pk=event_id, status=row.status, claimed_at=row.claimed_at).update(
        status=StripeEvent.Status.PROCESSING, claimed_at=now, attempts=row.attempts + 1)
    return StripeEvent.objects.get(pk=event_id) if won else None


def webhook_process(*, event_id: str) -> bool:
    """Runs the handler of a claimed event; True when processed (now or before)."""
    event = webhook_claim(event_id=event_id)
    if event is None:
        return StripeEvent.objects.filter(pk=event_id, status=StripeEvent.Status.PROCESSED).exists()
    try:
        handler = HANDLERS.get(event.type)
        if handler is not None:
            handler(event)
    except Exception as exc:
        StripeEvent.objects.filter(pk=event.pk).update(status=StripeEvent.Status.FAILED,
                                                       last_error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    StripeEvent.objects.filter(pk=event.pk).update(status=StripeEvent.Status.PROCESSED,
                                                   processed_at=timezone.now(), last_error="")
    return True


# -- handlers --------------------------------------------------------------------------------

def _on_invoice_created(event: StripeEvent) -> None:
    invoice = event.payload["data"]["object"]
    customer = StripeCustomer.objects.filter(stripe_id=invoice.get("customer")).first()
    # Flush usage up to now before Stripe finalizes the draft (a subscription's opening invoice
    # bills no usage, so it needs none).
    if customer is not None and invoice.get("billing_reason") != "subscription_create":
        usage_sync(organization=customer.organization, flush=True)
    invoice_mirror(stripe_invoice_id=event.object_id)


def _on_invoice_changed(event: StripeEvent) -> None:
    invoice_mirror(stripe_invoice_id=event.object_id)


def _on_invoice_paid(event: StripeEvent) -> None:
    invoice = invoice_mirror(stripe_invoice_id=event.object_id)
    if invoice is None or invoice.status != "paid":
        return
    customer = StripeCustomer.objects.get(organization_id=invoice.organization_id)
    delinquency_lift(customer=customer, paid_invoice=invoice)
    payouts_for_invoice(invoice=invoice)


def _on_payment_failed(event: StripeEvent) -> None:
    invoice = invoice_mirror(stripe_invoice_id=event.object_id)
    if invoice is None or invoice.status != "open":  # paid meanwhile (a late event): nothing to mark
        return
    customer = StripeCustomer.objects.get(organization_id=invoice.organization_id)
    # The grace period starts at the failure, but never later than now (Stripe's clock may run ahead).
    delinquency_mark(customer=customer, invoice=invoice, failed_at=min(event.created, timezone.now()))


def _on_subscription_changed(event: StripeEvent) -> None:
    from marketplace.models import Entitlement
    from marketplace.services.entitlements import entitlement_set_status

    row = StripeSubscription.objects.filter(stripe_id=event.object_id).select_related("entitlement").first()
    if row is None:
        return
    sub = require_client().v1.subscriptions.retrieve(event.object_id)
    StripeSubscription.objects.filter(pk=row.pk).update(status=sub.status)
    entitlement = row.entitlement
    if sub.status == "canceled" and entitlement.status == Entitlement.Status.ACTIVE:
        # Stripe ended it (e.g. after failed payments): stop serving the plan.
        entitlement_set_status(organization=entitlement.organization, entitlement_id=entitlement.pk,
                               status=Entitlement.Status.SUSPENDED, actor=None)


def _on_account_updated(event: StripeEvent) -> None:
    vendor_account_refresh(stripe_account_id=event.object_id)


def _on_meter_error(event: StripeEvent) -> None:
    """Stripe rejected meter events after accepting them: note it on the windows it names;
    the reconciliation sees the hour short and sends a correction."""
    reason = event.payload["data"]["object"].get("reason") or {}
    for error_type in reason.get("error_types") or []:
        for sample in error_type.get("sample_errors") or []:
            identifier = (sample.get("request") or {}).get("identifier")
            if identifier:
                UsageWindow.objects.filter(identifier=identifier).update(
                    last_error=f"Stripe: {sample.get('error_message', error_type.get('code'))}"[:300])
    log.warning("Stripe reported meter errors: %s", reason.get("error_types"))


def _on_checkout_completed(event: StripeEvent) -> None:
    session = event.payload["data"]["object"]
    if session.get("mode") != "setup" or not session.get("setup_intent") or not session.get("customer"):
        return
    client = require_client()
    intent = client.v1.setup_intents.retrieve(session["setup_intent"])
    if intent.status == "succeeded" and intent.payment_method:
        pm = intent.payment_method if isinstance(intent.payment_method, str) else intent.payment_method.id
        client.v1.customers.update(session["customer"], {"invoice_settings": {"default_payment_method": pm}})


HANDLERS: dict[str, Callable[[StripeEvent], None]] = {
    "invoice.created": _on_invoice_created,
    "invoice.finalized": _on_invoice_changed,
    "invoice.updated": _on_invoice_changed,
    "invoice.voided": _on_invoice_changed,
    "invoice.paid": _on_invoice_paid,
    "invoice.payment_succeeded": _on_invoice_paid,
    "invoice.payment_failed": _on_payment_failed,
    "customer.subscription.updated": _on_subscription_changed,
    "customer.subscription.deleted": _on_subscription_changed,
    "account.updated": _on_account_updated,
    "billing.meter.error_report_triggered": _on_meter_error,
    "v1.billing.meter.error_report_triggered": _on_meter_error,
    "checkout.session.completed": _on_checkout_completed,
}
