"""Helpers for the Stripe billing tests: a catalog of plans, calls recorded through the real
metering services, and Stripe's webhooks delivered (signed the real way) to our endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import StripeEvent, UsageEvent
from billing.services.metering import usage_commit, usage_reserve
from billing.services.webhooks import webhook_process
from marketplace.models import Entitlement, Model, ModelVersion, Plan
from marketplace.services.entitlements import entitlement_subscribe
from marketplace.services.plans import plan_create
from stripe_standin import StripeStandin
from tests.conftest import STRIPE_WEBHOOK_TEST_SECRET
from tests.factories import published_model

WEBHOOK_PATH = "/api/v1/billing/stripe/webhook"
LATER = timedelta(hours=2)  # "now" for sync: the hour of the calls has closed


def model_with_plan(vendor_org, slug: str, **plan_terms) -> tuple[Model, Plan]:
    """A published model whose only plan has these terms (payg per call by default)."""
    model = published_model(vendor_org, slug, plans=("free",))  # publishing needs some plan
    terms = {"kind": "payg", "unit_price_minor": 2, **plan_terms}
    plan = plan_create(model=model, actor=None, name=f"{slug}-{terms['kind']}", **terms)
    return model, plan


def subscribe(persona, model: Model, plan: Plan) -> Entitlement:
    return entitlement_subscribe(organization=persona.organization, user=persona.user, model=model,
                                 plan_id=plan.pk, declared_use="commercial", territory="DE")


def call(persona, entitlement: Entitlement, *, units: int = 4, compute_ms: float = 1.5) -> UsageEvent:
    """One billable call recorded the way the gateway records it."""
    reservation = usage_reserve(request_id=uuid.uuid4().hex, organization=persona.organization,
                                api_key=persona.api_key, model=entitlement.model, entitlement=entitlement,
                                units=units)
    version = ModelVersion.objects.filter(model=entitlement.model).first()
    return usage_commit(reservation=reservation, version=version, compute_ms=compute_ms)


def token_call(persona, entitlement: Entitlement, *, prompt: int, max_tokens: int, produced: int,
               request_id: str | None = None) -> UsageEvent:
    """One language-model call recorded the way the LLM gateway records it: reserve the prompt
    plus max_tokens, then commit the tokens actually produced."""
    reservation = usage_reserve(request_id=request_id or uuid.uuid4().hex, organization=persona.organization,
                                api_key=persona.api_key, model=entitlement.model, entitlement=entitlement,
                                units=prompt + max_tokens, tokens=(prompt, max_tokens))
    version = ModelVersion.objects.filter(model=entitlement.model).first()
    return usage_commit(reservation=reservation, version=version, compute_ms=12.5, input_tokens=prompt,
                        output_tokens=produced)


def later():
    return timezone.now() + LATER


def signature(payload: str, secret: str = STRIPE_WEBHOOK_TEST_SECRET, at: int | None = None) -> str:
    t = at or int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def deliver(event: dict[str, Any], *, secret: str = STRIPE_WEBHOOK_TEST_SECRET, client: APIClient | None = None):
    payload = json.dumps(event)
    return (client or APIClient()).post(WEBHOOK_PATH, data=payload, content_type="application/json",
                                        HTTP_STRIPE_SIGNATURE=signature(payload, secret))


def deliver_all(standin: StripeStandin, *, after: int = 0, types: tuple[str, ...] | None = None) -> int:
    """Delivers the stand-in's events from index `after` on (optionally only some types); returns
    the count of all events so far, for the next call's `after`."""
    events = standin.events()
    for event in events[after:]:
        if types is None or event["type"] in types:
            assert deliver(event).status_code == 200
    return len(events)


def process_received() -> int:
    """What the Celery task does, in this process: handle every stored, unprocessed event in
    the order they were received."""
    done = 0
    for event_id in StripeEvent.objects.exclude(status=StripeEvent.Status.PROCESSED).order_by(
            "received_at").values_list("id", flat=True):
        done += webhook_process(event_id=event_id)
    return done


def meter_total(standin: StripeStandin, event_name: str, customer: str) -> Any:
    from decimal import Decimal

    return sum((Decimal(e["value"]) for e in standin.state()["meter_events"]
                if e["event_name"] == event_name and e["customer"] == customer and e["status"] == "accepted"),
               Decimal(0))


def onboard(vendor, standin: StripeStandin) -> str:
    """The vendor opens its payout account and finishes Stripe's onboarding; the account.updated
    webhook is delivered and processed. Returns the account id."""
    from billing.models import VendorAccount
    from billing.services.payouts import onboarding_link

    onboarding_link(organization=vendor.organization, return_url="https://vendor.example/done",
                    refresh_url="https://vendor.example/again")
    account = VendorAccount.objects.get(organization=vendor.organization)
    before = len(standin.events())
    standin.complete_onboarding(account.stripe_id)
    deliver_all(standin, after=before)
    process_received()
    return account.stripe_id


def bill_period(standin: StripeStandin, *, days: int = 32) -> list[str]:
    """Advance Stripe's clock past the monthly period end: cycle invoices are made and charged."""
    return standin.advance_clock(days * 86400)["invoices"]
