"""Metering in the inference hot path: reserve before the run, record after it, release on failure.

    reservation = usage_reserve(...)          # 429 quota / 402 spend cap / 503 Redis down
    try:   outputs = run(...)
    except: usage_release(reservation=reservation); raise     # platform failure: not billed
    event = usage_commit(reservation=reservation, version=..., compute_ms=...)

The owner of a model calling it is not billed and reserves nothing (entitlement None).
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import redis
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey, Membership, Organization
from billing import pricing, quota
from billing.models import Notification, UsageEvent
from billing.selectors.usage import ledger_amount, ledger_calls, limits_for
from billing.services.ledger import ledger_append
from core.errors import PaymentRequired, QuotaExceeded, ServiceUnavailable
from marketplace.models import Entitlement, Model, ModelVersion, Plan

log = logging.getLogger(__name__)
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


@dataclass
class Reservation:
    request_id: str
    organization_id: int
    api_key_id: int | None
    model_id: int
    plan: Plan
    units: int
    calls_before: int
    estimate_minor: Decimal
    quota_remaining: int | None
    taken: quota.Taken = field(default_factory=quota.Taken)
    spend_keys: list[str] = field(default_factory=list)
    spend_deltas: list[int] = field(default_factory=list)
    limited: list[Limited] = field(default_factory=list)

    def to_json(self) -> dict:
        """For the async path, where the worker records the usage."""
        return {
            "request_id": self.request_id, "organization_id": self.organization_id,
            "api_key_id": self.api_key_id, "model_id": self.model_id, "plan_id": self.plan.pk,
            "units": self.units, "calls_before": self.calls_before,
            "estimate_minor": str(self.estimate_minor), "quota_remaining": self.quota_remaining,
            "taken": [self.taken.keys, self.taken.deltas, self.taken.values],
            "spend": [self.spend_keys, self.spend_deltas],
            "limited": [vars(x) for x in self.limited],
        }

    @classmethod
    def from_json(cls, data: dict) -> Reservation:
        keys, deltas, values = data["taken"]
        return cls(
            request_id=data["request_id"], organization_id=data["organization_id"],
            api_key_id=data["api_key_id"], model_id=data["model_id"],
            plan=Plan.objects.get(pk=data["plan_id"]), units=data["units"],
            calls_before=data["calls_before"], estimate_minor=Decimal(data["estimate_minor"]),
            quota_remaining=data["quota_remaining"], taken=quota.Taken(keys, deltas, values),
            spend_keys=data["spend"][0], spend_deltas=data["spend"][1],
            limited=[Limited(**x) for x in data["limited"]],
        )


def _month(now: datetime) -> tuple[datetime, datetime, str]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(start.year, start.month)[1]
    return start, start + timedelta(days=days), start.strftime("%Y-%m")


def _ttl(until: datetime, now: datetime) -> int:
    return int((until - now).total_seconds()) + 86400


def usage_reserve(
    *, request_id: str, organization: Organization, api_key: ApiKey | None, model: Model,
    entitlement: Entitlement | None, units: int,
) -> Reservation | None:
    """Reserve one call against every quota and spend cap; None when the call is not billable."""
    if entitlement is None:
        return None
    plan = entitlement.plan
    now = timezone.now()
    m_start, m_end, month = _month(now)
    limits = limits_for(organization=organization, api_key=api_key)
    calls: list[quota.Counter] = []
    limited: list[tuple[int, str, str, str, str]] = []  # (index, kind, subject, period, label)

    quota_calls = entitlement.monthly_quota if entitlement.monthly_quota is not None else plan.monthly_quota
    if quota_calls is not None or plan.kind == Plan.Kind.SUBSCRIPTION:
        p_start, p_end = entitlement.period_start, entitlement.period_end
        calls.append(quota.Counter(
            key=f"mb:q:ent:{entitlement.pk}:{int(p_start.timestamp())}", delta=1, limit=quota_calls,
            rebuild=lambda: ledger_calls(since=p_start, until=p_end, organization=organization, model=model),
            ttl_seconds=_ttl(p_end, now), label=f"the {plan.name} plan's quota of {quota_calls} calls",
        ))
        if quota_calls is not None:
            limited.append((0, Notification.Kind.QUOTA, f"entitlement:{entitlement.pk}",
                            p_start.date().isoformat(), "plan quota"))
    for scope, row in (("org", limits.org), ("key", limits.key)):
        if row is not None and row.monthly_calls is not None:
            filters = {"organization": organization} if scope == "org" else {"api_key": api_key}
            subject = f"{scope}:{organization.pk if scope == 'org' else api_key.pk}"
            limited.append((len(calls), Notification.Kind.QUOTA, subject, month, f"{scope} monthly calls"))
            calls.append(quota.Counter(
                key=f"mb:q:{subject}:{month}", delta=1, limit=row.monthly_calls,
                rebuild=lambda f=filters: ledger_calls(since=m_start, until=m_end, **f),
                ttl_seconds=_ttl(m_end, now),
                label=f"the {'organization' if scope == 'org' else 'API key'}'s limit of {row.monthly_calls} calls a month",
            ))
    try:
        taken = quota.reserve(calls)
    except quota.LimitReached as exc:
        raise QuotaExceeded(
            f"This call would exceed {exc.counter.label}; upgrade the plan or raise the limit, "
            "or wait for the next period.", details={"limit": exc.counter.limit, "used": exc.current},
        ) from None
    except redis.RedisError:
        raise ServiceUnavailable("Usage accounting is unavailable; retry shortly.") from None

    calls_before = taken.values[0] - 1 if calls and calls[0].key.startswith("mb:q:ent:") else 0
    estimate = pricing.estimate_call(plan=plan, units=units, calls_before=calls_before)
    spend: list[quota.Counter] = []
    spend_limited: list[tuple[int, str, str, str, str]] = []
    for scope, row in (("org", limits.org), ("key", limits.key)):
        if row is None or row.spend_cap_minor is None or row.currency.lower() != plan.currency.lower():
            continue
        filters = {"organization": organization, "currency": plan.currency}
        if scope == "key":
            filters = {"api_key": api_key, "currency": plan.currency}
        subject = f"{scope}:{organization.pk if scope == 'org' else api_key.pk}"
        spend_limited.append((len(spend), Notification.Kind.SPEND_CAP, subject, month, f"{scope} spend cap"))
        spend.append(quota.Counter(
            key=f"mb:s:{subject}:{month}:{plan.currency.lower()}", delta=pricing.to_scaled(estimate),
            limit=row.spend_cap_minor * pricing.SCALE,
            rebuild=lambda f=filters: pricing.to_scaled(ledger_amount(since=m_start, until=m_end, **f)),
            ttl_seconds=_ttl(m_end, now),
            label=f"{'organization' if scope == 'org' else 'API key'} spend cap",
        ))
    try:
        spent = quota.reserve(spend)
    except quota.LimitReached as exc:
        quota.release(taken)
        cap_minor = exc.counter.limit // pricing.SCALE
        raise PaymentRequired(
            f"The {exc.counter.label} of {cap_minor / 100:.2f} {plan.currency.upper()} for {month} is "
            "reached; raise the cap in your billing settings to keep calling.",
            code="spend_cap_reached",
            details={"spend_cap_minor": cap_minor, "currency": plan.currency, "period": month},
        ) from None
    except redis.RedisError:
        quota.release(taken)
        raise ServiceUnavailable("Usage accounting is unavailable; retry shortly.") from None

    remaining = [c.limit - v for c, v in zip(calls, taken.values, strict=True) if c.limit is not None]
    reservation = Reservation(
        request_id=request_id, organization_id=organization.pk, api_key_id=api_key.pk if api_key else None,
        model_id=model.pk, plan=plan, units=units, calls_before=calls_before, estimate_minor=estimate,
        quota_remaining=max(0, min(remaining)) if remaining else None,
        taken=quota.Taken(taken.keys + spent.keys, taken.deltas + spent.deltas, taken.values + spent.values),
        spend_keys=spent.keys, spend_deltas=spent.deltas,
    )
    for index, kind, subject, period, label in limited:
        reservation.limited.append(Limited(kind, subject, period, calls[index].limit, taken.values[index], 1, label))
    for index, kind, subject, period, label in spend_limited:
        reservation.limited.append(Limited(kind, subject, period, spend[index].limit, spent.values[index],
                                           spent.deltas[index], label))
    return reservation


def usage_release(*, reservation: Reservation | None) -> None:
    """The call did not complete: give back everything it reserved."""
    if reservation is not None:
        quota.release(reservation.taken)


def usage_commit(*, reservation: Reservation, version: ModelVersion, compute_ms: float) -> UsageEvent:
    """Record the call in the ledger (idempotent per request id) and settle the reservation."""
    plan = reservation.plan
    amount = pricing.price_call(plan=plan, units=reservation.units, compute_ms=compute_ms,
                                calls_before=reservation.calls_before)
    try:
        event = _record(reservation=reservation, version=version, compute_ms=compute_ms, amount=amount)
    except IntegrityError:  # the same request recorded before (a retried commit): keep the first
        return UsageEvent.objects.get(request_id=reservation.request_id)
    actual = pricing.to_scaled(amount)
    quota.adjust(reservation.spend_keys, [actual - d for d in reservation.spend_deltas])
    return event


def _record(*, reservation: Reservation, version: ModelVersion, compute_ms: float, amount: Decimal) -> UsageEvent:
    event = UsageEvent(
        request_id=reservation.request_id, organization_id=reservation.organization_id,
        api_key_id=reservation.api_key_id, model_id=reservation.model_id, version=version,
        plan=reservation.plan, units=reservation.units,
        compute_ms=Decimal(str(round(compute_ms, 3))), amount_minor=amount, currency=reservation.plan.currency,
    )
    # The event and the alerts it triggers, together; and a savepoint when the caller is in a
    # transaction, so a duplicate request id (IntegrityError) does not abort the caller's.
    with transaction.atomic():
        ledger_append(event)
        for limit in reservation.limited:
            _alert_if_crossed(organization_id=reservation.organization_id, limit=limit)
    return event


def _alert_if_crossed(*, organization_id: int, limit: Limited) -> None:
    # Counters are atomic, so exactly one call crosses each threshold (no query per call).
    before = limit.after - limit.delta
    for pct in THRESHOLDS:
        mark = limit.limit * pct / 100
        if before < mark <= limit.after or (pct == 100 and before < limit.limit <= limit.after):
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
        transaction.on_commit(lambda: _email(notification))
    return notification if created else None


def _email(notification: Notification) -> None:
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
        send_mail("Modelbay usage alert", notification.message, None, recipients, fail_silently=True)
        Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now())
