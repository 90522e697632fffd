"""Usage alerts: a quota or spend cap crossing 80% and 100%, recorded once and emailed to the
organization's owners and admins (or staff) when BILLING_ALERT_EMAILS is on."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership
from billing.models import Notification
from core.queueing import send_after_commit

THRESHOLDS = (80, 100)


@dataclass
class Limited:
    """A limited counter of a reservation, for the 80%/100% alerts."""

    kind: str  # Notification.Kind
    subject: str
    period: str
    limit: int
    after: int
    delta: int
    label: str


def settled(limit: Limited, actual_scaled: int) -> Limited:
    """A spend counter's alert judged on the amount billed, not the estimate reserved (a call
    reserving max_tokens that produced few must not raise the 100% alert)."""
    if limit.kind != Notification.Kind.SPEND_CAP:
        return limit
    return replace(limit, after=limit.after - limit.delta + actual_scaled, delta=actual_scaled)


def thresholds_crossed(limit: Limited) -> list[int]:
    """The alert thresholds (percent) this call's counter crossed; usually none. Counters are
    atomic, so exactly one call crosses each threshold (no query per call)."""
    before = limit.after - limit.delta
    return [pct for pct in THRESHOLDS
            if before < limit.limit * pct / 100 <= limit.after or (pct == 100 and before < limit.limit <= limit.after)]


def alert_if_crossed(*, organization_id: int, limit: Limited) -> None:
    for pct in thresholds_crossed(limit):
        notification_raise(
            organization_id=organization_id, kind=limit.kind, subject=limit.subject,
            period=limit.period, threshold=pct,
            message=f"Usage reached {pct}% of the {limit.label} for {limit.period}.",
        )


def notification_raise(
    *, organization_id: int | None, kind: str, subject: str, period: str, threshold: int, message: str,
) -> Notification | None:
    """Record an alert once (unique per subject, period, threshold); email it when configured."""
    with transaction.atomic():
        notification, created = Notification.objects.get_or_create(
            kind=kind, subject=subject, period=period, threshold=threshold,
            defaults={"organization_id": organization_id, "message": message},
        )
    if created and settings.BILLING_ALERT_EMAILS:
        # Queued, never sent here: the call that crossed the threshold is an inference request.
        send_after_commit("billing.tasks.alert_email", args=[notification.pk])
    return notification if created else None


def alert_email_send(*, notification_id: int) -> None:
    """Emails the alert to its organization's owners and admins (staff's alerts: active staff).
    Raises the mail server's error, for the task to retry."""
    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None or notification.emailed_at is not None:  # gone, or a redelivery: sent already
        return
    if notification.organization_id is None:
        from accounts.models import User

        recipients = list(User.objects.filter(is_staff=True, is_active=True).values_list("email", flat=True))
    else:
        recipients = list(
            Membership.objects.filter(organization_id=notification.organization_id,
                                      role__in=[Membership.Role.OWNER, Membership.Role.ADMIN])
            .values_list("user__email", flat=True)
        )
    if recipients:
        send_mail("Modelbay usage alert", notification.message, None, recipients)
        Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now())
