"""Token plans on Stripe and on the local ledger: two meters (input and output tokens) fed with
exact token counts, reconciled per meter, and invoiced as two lines at the plan's two prices."""

import random
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone

from billing.models import InvoiceLine, StripeCustomer, StripePrice, StripeSubscription, UsageWindow
from billing.services.invoices import local_invoice_issue, local_invoice_lines
from billing.services.reconciliation import reconciliation_run
from billing.services.subscription_sync import stripe_objects_sync
from billing.services.usage_sync import usage_sync
from tests.billing.stripe_support import (
    bill_period,
    call,
    deliver_all,
    later,
    meter_total,
    model_with_plan,
    process_received,
    subscribe,
    token_call,
)
from tests.billing.test_token_metering import PRICES
from tests.inference.serving import fresh_serving_caches  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_serving_caches")
PER_TOKEN = {"input_tokens": Decimal("0.00005"), "output_tokens": Decimal("0.00015")}  # cents


def cents(tokens: int, dimension: str) -> int:
    return int((tokens * PER_TOKEN[dimension]).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.fixture
def llm(vendor, buyer, stripe_standin):
    model, plan = model_with_plan(vendor.organization, "llm", **PRICES)
    entitlement = subscribe(buyer, model, plan)
    stripe_objects_sync()
    prices = {p.dimension: p for p in StripePrice.objects.filter(plan=plan)}

    def totals() -> dict[str, Decimal]:
        customer = StripeCustomer.objects.get(organization=buyer.organization).stripe_id
        return {d: meter_total(stripe_standin, p.event_name, customer) for d, p in prices.items()}

    return {"entitlement": entitlement, "plan": plan, "prices": prices, "totals": totals}


def test_a_token_plan_has_two_meters_and_its_subscription_both_prices(llm, stripe_standin):
    prices = llm["prices"]
    assert set(prices) == {"input_tokens", "output_tokens"}
    client = stripe_standin.client()
    sub = client.v1.subscriptions.retrieve(StripeSubscription.objects.get().stripe_id)
    assert {item.price.id for item in sub["items"].data} == {p.price_id for p in prices.values()}
    for dimension, row in prices.items():
        price = client.v1.prices.retrieve(row.price_id)
        # Stripe's meters take whole numbers: they count tokens, priced at the per-million price / 10^6.
        assert price.unit_amount_decimal == PER_TOKEN[dimension] and price.unit_amount is None
        assert price.recurring.usage_type == "metered" and price.recurring.meter == row.meter_id
        assert client.v1.billing.meters.retrieve(row.meter_id).event_name == row.event_name
        assert client.v1.products.retrieve(price.product).name.endswith(dimension.replace("_", " "))
    assert stripe_standin.state()["counts"]["billing.meter"] == 2


def test_both_meters_get_the_exact_tokens_and_the_reconciliation_finds_no_difference(llm, buyer, stripe_standin):
    rng = random.Random(5)
    calls = [(rng.randint(1, 5000), rng.randint(1, 2000)) for _ in range(30)]
    for prompt, produced in calls:
        token_call(buyer, llm["entitlement"], prompt=prompt, max_tokens=2048, produced=produced)
    assert usage_sync(now=later()) == {"built": 2, "sent": 2, "failed": 0}
    expected = {"input_tokens": sum(p for p, _ in calls), "output_tokens": sum(o for _, o in calls)}
    assert llm["totals"]() == expected
    assert all("." not in e["value"] for e in stripe_standin.state()["meter_events"])
    run = reconciliation_run(now=later())
    assert run.status == "ok" and run.differences == [] and run.checked == 2
    hour = int(UsageWindow.objects.first().hour.timestamp())
    org, plan = buyer.organization.pk, llm["plan"].pk
    assert set(UsageWindow.objects.values_list("identifier", "state")) == {
        (f"mbw-{org}-{plan}-input_tokens-{hour}-0", "confirmed"),
        (f"mbw-{org}-{plan}-output_tokens-{hour}-0", "confirmed")}

    # The month closes: Stripe bills each meter at its price, as the local ledger would.
    bill_period(stripe_standin)
    deliver_all(stripe_standin)
    process_received()
    # Stripe's line names the dimension's product: "<tokens> × Llm — llm-payg: input tokens (at ...)".
    mirrored = {line.description.split(": ")[-1].split(" (")[0].replace(" ", "_"): line.amount_minor
                for line in InvoiceLine.objects.filter(invoice__source="stripe", quantity__gt=0)}
    assert mirrored == {d: cents(n, d) for d, n in expected.items()}
    local = local_invoice_lines(organization=buyer.organization, period_start=timezone.now() - timedelta(days=1),
                                period_end=timezone.now() + timedelta(days=1))
    assert sorted(line["amount_minor"] for line in local) == sorted(mirrored.values())


def test_late_tokens_are_corrected_on_each_meter(llm, buyer):
    token_call(buyer, llm["entitlement"], prompt=300, max_tokens=100, produced=40)
    usage_sync(now=later())
    token_call(buyer, llm["entitlement"], prompt=7, max_tokens=100, produced=5)  # after its hour was sent
    usage_sync(now=later())
    assert llm["totals"]() == {"input_tokens": 300, "output_tokens": 40}
    run = reconciliation_run(now=later())
    assert run.status == "ok" and run.fixed == 2
    assert sorted((d["dimension"], d["difference"]) for d in run.differences) == [
        ("input_tokens", "7.000000"), ("output_tokens", "5.000000")]
    assert llm["totals"]() == {"input_tokens": 307, "output_tokens": 45}
    assert reconciliation_run(now=later()).differences == []


def test_windows_of_a_plan_priced_by_one_number_keep_their_identifiers(vendor, buyer, stripe_standin):
    model, plan = model_with_plan(vendor.organization, "calls", unit_price_minor=2)
    call(buyer, subscribe(buyer, model, plan))
    stripe_objects_sync()
    usage_sync(now=later())
    window = UsageWindow.objects.get()
    assert window.dimension == "default" and window.state == "sent"
    assert window.identifier == f"mbw-{buyer.organization.pk}-{plan.pk}-{int(window.hour.timestamp())}-0"
    assert StripePrice.objects.get(plan=plan).event_name.startswith(f"modelbay_plan_{plan.pk}_")


def test_a_local_ledger_invoice_bills_input_and_output_tokens_on_two_lines(vendor, buyer, settings):
    settings.STRIPE_API_KEY = ""
    model, plan = model_with_plan(vendor.organization, "llm", **PRICES)
    entitlement = subscribe(buyer, model, plan)
    # 1,230,000 input tokens x $0.50/M = 61.5 cents; 410,000 output tokens x $1.50/M = 61.5 cents:
    # each line rounds half-up once, as Stripe does.
    for prompt, produced in ((410_000, 150_000), (410_000, 130_000), (410_000, 130_000)):
        token_call(buyer, entitlement, prompt=prompt, max_tokens=200_000, produced=produced)
    start = timezone.now() - timedelta(days=1)
    (invoice,) = local_invoice_issue(organization=buyer.organization, period_start=start,
                                     period_end=start + timedelta(days=30))
    lines = {line.description.split(" x ")[0]: line for line in invoice.lines.all()}
    assert set(lines) == {"1,230,000 input tokens", "410,000 output tokens"}
    assert [(line.quantity, line.unit_amount_decimal, line.amount_minor) for line in lines.values()] == [
        (Decimal(1_230_000), Decimal("0.00005"), 62), (Decimal(410_000), Decimal("0.00015"), 62)]
    assert "at 50 usd cents per 1M input tokens" in lines["1,230,000 input tokens"].description
    assert invoice.total_minor == 124
    listed = buyer.client.get("/api/v1/billing/invoices").json()["results"][0]
    assert [(line["quantity"], line["amount_minor"]) for line in listed["lines"]] == [
        ("1230000.000000", 62), ("410000.000000", 62)]
    days = buyer.client.get("/api/v1/billing/usage").json()["days"]
    assert (days[0]["input_tokens"], days[0]["output_tokens"]) == (1_230_000, 410_000)


def test_a_price_finer_than_twelve_decimals_is_refused_as_stripe_does(stripe_standin):
    import stripe

    client = stripe_standin.client()
    product = client.v1.products.create({"name": "Fine"})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.prices.create({"currency": "usd", "product": product.id, "unit_amount_decimal": "0.0000000000001"})
    assert "maximum 12 decimal places" in str(refused.value) and refused.value.param == "unit_amount_decimal"
    ok = client.v1.prices.create({"currency": "usd", "product": product.id, "unit_amount_decimal": "0.000000000001"})
    assert ok.unit_amount_decimal == Decimal("0.000000000001")
