"""A seeded random stream of usage, syncs and reconciliations against a faulty Stripe, then a
billing cycle whose webhooks arrive duplicated and out of order.

Afterwards: Stripe's meter totals equal the ledger exactly, no Stripe object exists twice,
every invoice is mirrored once in its final state, and each vendor got one transfer per invoice.
"""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
import stripe
from django.utils import timezone

from billing import pricing
from billing.models import (
    Invoice,
    ReconciliationRun,
    StripeCustomer,
    StripeEvent,
    StripePrice,
    StripeSubscription,
    UsageEvent,
    UsageWindow,
    VendorEarning,
)
from billing.selectors.quantities import plan_quantities
from billing.services.reconciliation import reconciliation_run
from billing.services.subscription_sync import stripe_objects_sync
from billing.services.usage_sync import usage_sync
from billing.services.webhooks import webhook_process
from marketplace.models import ModelVersion
from tests.billing.stripe_support import (
    bill_period,
    call,
    deliver,
    later,
    meter_total,
    model_with_plan,
    subscribe,
)
from tests.conftest import make_persona
from tests.inference.serving import fresh_serving_caches  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_serving_caches")


def faults(seed: int) -> list[dict]:
    rules = []
    for i, mode in enumerate(["error_500", "error_429", "timeout", "drop_after_commit"]):
        rules.append({"path_prefix": "/v1/billing/meter_events", "mode": mode, "probability": 0.05,
                      "seed": seed * 10 + i, "delay_seconds": 0.05})
    for i, prefix in enumerate(["/v1/customers", "/v1/products", "/v1/billing/meters", "/v1/prices",
                                "/v1/subscriptions", "/v1/transfers", "/v1/accounts"]):
        rules.append({"path_prefix": prefix, "mode": "drop_after_commit", "probability": 0.1, "method": "POST",
                      "seed": seed * 100 + i})
        rules.append({"path_prefix": prefix, "mode": "error_500", "probability": 0.05, "seed": seed * 1000 + i})
    rules.append({"path_prefix": "/v1/invoices", "mode": "error_500", "probability": 0.05, "method": "GET",
                  "seed": seed + 7})
    return rules


def backdated_call(persona, entitlement, rng) -> None:
    """Usage committed in an earlier hour (arriving late relative to the syncs)."""
    plan = entitlement.plan
    units, compute_ms = rng.randint(1, 3000), Decimal(str(round(rng.uniform(1, 500), 3)))
    UsageEvent.objects.create(
        request_id=f"late-{rng.getrandbits(64):x}", organization=persona.organization, api_key=persona.api_key,
        model=entitlement.model, version=ModelVersion.objects.filter(model=entitlement.model).first(), plan=plan,
        units=units, compute_ms=compute_ms, currency=plan.currency,
        amount_minor=pricing.price_call(plan=plan, units=units, compute_ms=compute_ms, calls_before=0),
        created_at=timezone.now() - timedelta(hours=rng.randint(1, 6), minutes=rng.randint(0, 59)))


def tolerant(fn, *args, **kwargs):
    """A beat task meeting a Stripe fault: it fails now and runs again later."""
    try:
        return fn(*args, **kwargs)
    except stripe.StripeError:
        return None


def process_all(rng) -> None:
    for _ in range(20):
        pending = list(StripeEvent.objects.exclude(status=StripeEvent.Status.PROCESSED).values_list("id", flat=True))
        if not pending:
            return
        rng.shuffle(pending)
        for event_id in pending:
            try:
                webhook_process(event_id=event_id)
            except stripe.StripeError:
                pass  # the task retries
    raise AssertionError("webhook events still unprocessed after 20 rounds")


@pytest.mark.parametrize("seed", [3, 17])
def test_random_usage_against_a_faulty_stripe_is_billed_exactly_once(vendor, outsider, buyer, stripe_standin, seed):
    rng = random.Random(seed)
    other_buyer = make_persona("buyer-two")
    offers = [
        model_with_plan(vendor.organization, "calls", unit_price_minor=3),
        model_with_plan(vendor.organization, "units", unit="1k_units", unit_price_minor=7),
        model_with_plan(outsider.organization, "seconds", unit="compute_second", unit_price_minor=50),
        model_with_plan(outsider.organization, "monthly", kind="subscription", monthly_fee_minor=900,
                        included_calls=3, overage_price_minor=4),
    ]
    stripe_standin.set_faults(faults(seed))
    entitlements = []
    for persona in (buyer, other_buyer):
        for model, plan in rng.sample(offers, 3):
            entitlements.append((persona, subscribe(persona, model, plan)))
    for persona in (vendor, outsider):
        from billing.services.payouts import vendor_account_ensure

        account = None
        while account is None:
            account = tolerant(vendor_account_ensure, organization=persona.organization)
        stripe_standin.complete_onboarding(account.stripe_id)

    for _ in range(160):
        roll = rng.random()
        persona, entitlement = rng.choice(entitlements)
        if roll < 0.7:
            call(persona, entitlement, units=rng.randint(1, 4000), compute_ms=rng.uniform(0.2, 800))
        elif roll < 0.8 and entitlement.plan.kind == "payg":
            backdated_call(persona, entitlement, rng)
        elif roll < 0.9:
            tolerant(stripe_objects_sync)
            usage_sync(now=later())
        elif roll < 0.95:
            reconciliation_run(now=later())

    for _ in range(15):  # beat keeps running until everything is settled
        tolerant(stripe_objects_sync)
        usage_sync(now=later())
        run = reconciliation_run(now=later())
        if run.status == ReconciliationRun.Status.OK and not run.differences and \
                not UsageWindow.objects.filter(state=UsageWindow.State.PENDING).exists():
            break
    assert run.status == ReconciliationRun.Status.OK, run.differences

    # Stripe's meters hold exactly the ledger's quantities.
    everything = {"since": timezone.now() - timedelta(days=2), "until": timezone.now() + timedelta(days=1)}
    for row in plan_quantities(**everything):
        customer = StripeCustomer.objects.get(organization_id=row["organization_id"]).stripe_id
        event_name = StripePrice.objects.get(plan=row["plan"]).event_name
        assert meter_total(stripe_standin, event_name, customer) == row["quantity"], row
    accepted = [e["identifier"] for e in stripe_standin.state()["meter_events"] if e["status"] == "accepted"]
    assert len(accepted) == len(set(accepted))
    assert set(accepted) <= set(UsageWindow.objects.values_list("identifier", flat=True))

    # No object twice.
    counts = stripe_standin.state()["counts"]
    plans = StripePrice.objects.count()
    assert counts["customer"] == StripeCustomer.objects.count() == 2
    assert counts["billing.meter"] == counts["product"] == plans == len({e.plan_id for _, e in entitlements})
    assert counts["price"] == plans + StripePrice.objects.exclude(fee_price_id="").count()
    assert counts["subscription"] == StripeSubscription.objects.count() == len(entitlements)
    assert counts["account"] == 2

    # A billing cycle; its webhooks arrive once to three times each, shuffled, and are processed
    # while more arrive.
    start = len(stripe_standin.events())
    bill_period(stripe_standin)
    events = stripe_standin.events()
    deliveries = [e for e in events for _ in range(rng.randint(1, 3))]
    rng.shuffle(deliveries)
    for i, event in enumerate(deliveries):
        assert deliver(event).status_code == 200
        if i % 7 == 0:
            process_all(rng)
    process_all(rng)
    assert StripeEvent.objects.count() == len(events) and len(events) > start

    stripe_standin.clear_faults()  # the checks below read Stripe without faults
    ours = {c.stripe_id for c in StripeCustomer.objects.all()}
    client = stripe_standin.client()
    stripe_invoices = [i for i in client.v1.invoices.list({"limit": 100}).auto_paging_iter() if i.customer in ours]
    assert Invoice.objects.count() == len(stripe_invoices)
    for remote in stripe_invoices:
        local = Invoice.objects.get(stripe_id=remote.id)
        assert (local.status, local.total_minor, local.amount_paid_minor) == (remote.status, remote.total,
                                                                              remote.amount_paid)
        assert sum(line.amount_minor for line in local.lines.all()) == remote.total
    transfers = list(client.v1.transfers.list({"limit": 100}).auto_paging_iter())
    pairs = [(t.transfer_group, t.destination) for t in transfers]
    assert len(pairs) == len(set(pairs)) == VendorEarning.objects.count() > 0
    for earning in VendorEarning.objects.select_related("invoice", "transfer"):
        (match,) = [t for t in transfers if t.transfer_group == earning.invoice.stripe_id
                    and t.destination == earning.vendor.vendor_account.stripe_id]
        assert match.amount == earning.net_minor and earning.transfer.stripe_id == match.id
