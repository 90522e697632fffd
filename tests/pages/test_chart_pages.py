"""Issue #16 items 3 and 5 on the server-rendered pages: usage and earnings charts with totals and
7/30/90-day ranges, the benchmark card naming the batches it measured, and the catalog filters."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import UsageEvent
from marketplace.models import Model
from tests.factories import TINY_SIGNATURE, published_model, ready_version
from tests.inference.serving import subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def spent_a_cent(vendor, buyer):
    """One call today (0.01 USD) and one 20 days ago (0.02 USD) by the buyer on the vendor's model."""
    tiny = published_model(vendor.organization, "tiny")
    subscribe(buyer, tiny)
    for request_id, age, minor in (("today", 0, 1), ("earlier", 20, 2)):
        UsageEvent.objects.create(request_id=request_id, organization=buyer.organization, model=tiny,
                                  version=tiny.versions.get(), plan=tiny.plans.get(), units=4,
                                  compute_ms=Decimal("0.2"), currency="usd", amount_minor=Decimal(minor),
                                  created_at=timezone.now() - timedelta(days=age))
    return tiny


def test_usage_page_totals_follow_the_chosen_range(client, buyer, spent_a_cent):
    client.force_login(buyer.user)
    month = client.get("/console/usage/").content.decode()
    assert '<a href="?days=30" aria-current="true">30 days</a>' in month
    assert "Cost, last 30 days</p><p class=\"value\">0.03 USD" in month
    assert 'data-top-tick="0.020"' in month  # the cost axis ends at the larger day, 0.02
    week = client.get("/console/usage/?days=7").content.decode()
    assert '<a href="?days=7" aria-current="true">7 days</a>' in week
    assert "Cost, last 7 days</p><p class=\"value\">0.01 USD" in week
    assert 'data-top-tick="0.010"' in week and "0.01 USD in 7 days" in week
    assert client.get("/console/usage/?days=12").content.decode().count("Calls, last 30 days") == 1


def test_earnings_page_totals_what_buyers_were_billed_in_the_range(client, vendor, spent_a_cent):
    client.force_login(vendor.user)
    html = client.get("/vendor/earnings/?days=90").content.decode()
    assert "Billed to buyers, last 90 days</p><p class=\"value\">0.03 USD" in html
    assert "Calls to your models, last 90 days</p><p class=\"value\">2" in html
    assert "tiny: 2 in 90 days" in html  # the calls legend's total


def test_benchmark_card_names_the_batches_it_measured(client, vendor):
    published_model(vendor.organization, "tiny")
    version = Model.objects.get(slug="tiny").versions.get()
    version.benchmark = {"batches": {"1": {"p50_ms": 0.05, "p95_ms": 0.08}, "8": {"p50_ms": 0.2, "p95_ms": 0.3}}}
    version.save(update_fields=["benchmark"])
    html = client.get("/catalog/vendor-co/tiny/").content.decode()
    assert '<h2 id="bench-title">Benchmark: latency at batch 1 and 8</h2>' in html
    assert 'data-testid="fixed-shape"' not in html


def test_fixed_shape_model_says_why_it_has_only_batch_1(client, vendor):
    model = published_model(vendor.organization, "fixed")
    version = model.versions.get()
    version.signature = {**TINY_SIGNATURE, "batched": False}
    version.save(update_fields=["signature"])
    html = client.get("/catalog/vendor-co/fixed/").content.decode()
    assert '<h2 id="bench-title">Benchmark: latency at its fixed batch of 1</h2>' in html
    assert "batch 1 and 8" not in html
    assert "Its inputs have fixed shapes, so it runs only at the batch size they declare" in html
    client.force_login(vendor.user)
    assert "its fixed batch of 1" in client.get("/vendor/models/fixed/versions/1.0.0/").content.decode()


def test_model_page_without_figures_has_no_benchmark_card(client, vendor):
    model = Model.objects.create(organization=vendor.organization, slug="bare", name="Bare")
    ready_version(model, benchmark={"batches": {}})
    client.force_login(vendor.user)
    assert "No benchmark figures." in client.get("/vendor/models/bare/versions/1.0.0/").content.decode()


def test_catalog_license_filter_reads_as_words_and_folds_on_a_phone(client, vendor):
    published_model(vendor.organization, "tiny")
    html = client.get("/catalog/").content.decode()
    assert '<option value="spdx">Open license (SPDX)</option>' in html
    assert '<option value="custom">Vendor&#x27;s own license</option>' in html
    assert ">Spdx<" not in html and ">Custom<" not in html
    assert "data-fold-narrow" in html  # no filter set: modelbay.js folds it on a phone
    filtered = client.get("/catalog/", {"license_kind": "custom", "ordering": "name"}).content.decode()
    assert "data-fold-narrow" not in filtered and "1 active" in filtered
