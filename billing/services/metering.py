"""Metering in the inference hot path: reserve before the run, record after it, release on failure.

    reservation = usage_reserve(...)          # 429 quota / 402 spend cap / 503 Redis down
    try:   outputs = run(...)
    except: usage_release(reservation=reservation); raise     # platform failure: not billed
    event = usage_commit(reservation=reservation, version=..., compute_ms=...)

Language models pass `tokens=(prompt_tokens, max_tokens)` to the reservation, which holds the
price of both against the spend caps, and the tokens actually used to the commit, which
records them and gives the unused part back (`input_tokens=`, `output_tokens=`).

The owner of a model calling it is not billed and reserves nothing (entitlement None).
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import redis
from django.db import IntegrityError, router, transaction
from django.utils import timezone

from accounts.models import ApiKey, Organization
from billing import pricing, quota
from billing.models import Notification, UsageEvent
from billing.selectors.usage import ledger_amount, ledger_calls, limits_for
from billing.services.alerts import (
    Limited,
    alert_if_crossed,
    notification_raise,
    settled,
    thresholds_crossed,
)
from billing.services.ledger import ledger_append, ledger_append_alone
from core.errors import PaymentRequired, QuotaExceeded, ServiceUnavailable
from marketplace.models import Entitlement, Model, ModelVersion, Plan

log = logging.getLogger(__name__)
# notification_raise moved to billing.services.alerts; inference.serving.workers.quarantine imports it from here.
__all__ = ["Limited", "Reservation", "notification_raise", "usage_commit", "usage_release", "usage_reserve"]


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
    input_tokens: int = 0  # reserved: the prompt
    output_tokens: int = 0  # reserved: the most the call may produce (max_tokens)
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
            "tokens": [self.input_tokens, self.output_tokens],
            "taken": [self.taken.keys, self.taken.deltas, self.taken.values],
            "spend": [self.spend_keys, self.spend_deltas],
            "limited": [vars(x) for x in self.limited],
        }

    @classmethod
    def from_json(cls, data: dict) -> Reservation:
        keys, deltas, values = data["taken"]
        input_tokens, output_tokens = data.get("tokens") or (0, 0)  # absent in ones queued before tokens
        return cls(
            request_id=data["request_id"], organization_id=data["organization_id"],
            api_key_id=data["api_key_id"], model_id=data["model_id"],
            plan=Plan.objects.get(pk=data["plan_id"]), units=data["units"],
            calls_before=data["calls_before"], estimate_minor=Decimal(data["estimate_minor"]),
            quota_remaining=data["quota_remaining"], input_tokens=input_tokens, output_tokens=output_tokens,
            taken=quota.Taken(keys, deltas, values),
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
    entitlement: Entitlement | None, units: int, tokens: tuple[int, int] | None = None,
) -> Reservation | None:
    """Reserve one call against every quota and spend cap; None when the call is not billable.

    `tokens` is (prompt tokens, max output tokens) for a language model. A token plan called
    without it (a text encoder through /v2) counts its `units` as input tokens."""
    if entitlement is None:
        return None
    plan = entitlement.plan
    if tokens is None:
        tokens = (units, 0) if pricing.is_token_plan(plan) else (0, 0)
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
    estimate = pricing.estimate_call(plan=plan, units=units, calls_before=calls_before, tokens=tokens)
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
        input_tokens=tokens[0], output_tokens=tokens[1], taken=quota.Taken(taken.keys + spent.keys, taken.deltas + spent.deltas, taken.values + spent.values),
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


def usage_commit(*, reservation: Reservation, version: ModelVersion, compute_ms: float,
                 input_tokens: int = 0, output_tokens: int = 0) -> UsageEvent:
    """Record the call in the ledger (idempotent per request id) and settle the reservation.

    With tokens, the call's units are input + output tokens and a token plan bills them at its
    two prices; without, the reserved units (and reserved tokens) are what is billed."""
    plan = reservation.plan
    if input_tokens or output_tokens:
        units = input_tokens + output_tokens
    else:
        units, input_tokens, output_tokens = reservation.units, reservation.input_tokens, reservation.output_tokens
    amount = pricing.price_call(plan=plan, units=units, compute_ms=compute_ms, calls_before=reservation.calls_before,
                                input_tokens=input_tokens, output_tokens=output_tokens)
    actual = pricing.to_scaled(amount)
    try:
        event = _record(reservation=reservation, version=version, compute_ms=compute_ms, amount=amount,
                        units=units, tokens=(input_tokens, output_tokens), actual_scaled=actual)
    except IntegrityError:  # the same request recorded before (a retried commit): keep the first
        return UsageEvent.objects.get(request_id=reservation.request_id)
    # Settle by actual minus reserved: the unused part of max_tokens goes back to the caps.
    quota.adjust(reservation.spend_keys, [actual - d for d in reservation.spend_deltas])
    return event


def _record(*, reservation: Reservation, version: ModelVersion, compute_ms: float, amount: Decimal, units: int,
            tokens: tuple[int, int], actual_scaled: int) -> UsageEvent:
    event = UsageEvent(
        request_id=reservation.request_id, organization_id=reservation.organization_id,
        api_key_id=reservation.api_key_id, model_id=reservation.model_id, version=version,
        plan=reservation.plan, units=units, input_tokens=tokens[0], output_tokens=tokens[1],
        compute_ms=Decimal(str(round(compute_ms, 3))), amount_minor=amount, currency=reservation.plan.currency,
    )
    limits = [settled(limit, actual_scaled) for limit in reservation.limited]
    alerts = [limit for limit in limits if thresholds_crossed(limit)]
    if not alerts and not transaction.get_connection(router.db_for_write(UsageEvent)).in_atomic_block:
        # The common case on the hot path: one INSERT in autocommit is already atomic, and
        # skips the BEGIN and COMMIT round trips of a transaction around it.
        return ledger_append_alone(event)
    # The event and the alerts it triggers, together; and a savepoint when the caller is in a
    # transaction, so a duplicate request id (IntegrityError) does not abort the caller's.
    with transaction.atomic():
        ledger_append(event)
        for limit in alerts:
            alert_if_crossed(organization_id=reservation.organization_id, limit=limit)
    return event
