"""Vendor portal pages through the Django test client: the same services as the API."""

import pytest

from marketplace.models import License, Model, Plan
from tests.factories import published_model, ready_version

pytestmark = pytest.mark.django_db


def test_vendor_creates_a_model_and_its_description_is_rendered_without_scripts(client, vendor):
    client.force_login(vendor.user)
    response = client.post("/vendor/models/new/", {
        "name": "Sentiment", "slug": "sentiment", "task": "text-classification", "visibility": "private",
        "description": "**Fast** model.\n\n<script>alert(1)</script><img src=x onerror=alert(2)>", "tags": "nlp, english",
    })
    assert response.status_code == 302 and response["Location"] == "/vendor/models/sentiment/upload/"
    model = Model.objects.get(slug="sentiment")
    assert model.tags == ["nlp", "english"] and model.organization == vendor.organization
    html = client.get("/vendor/models/sentiment/").content.decode()
    assert "<strong>Fast</strong>" in html
    assert "<script>alert(1)" not in html and "onerror" not in html
    assert "draft" in client.get("/vendor/").content.decode()


def test_duplicate_slug_is_refused_on_the_form_in_the_services_words(client, vendor):
    client.force_login(vendor.user)
    Model.objects.create(organization=vendor.organization, slug="taken", name="Taken")
    response = client.post("/vendor/models/new/", {"name": "Again", "slug": "taken", "visibility": "private"})
    assert response.status_code == 200
    assert "You already have a model with slug" in response.content.decode()


def test_another_organizations_model_is_not_found(client, vendor, outsider):
    Model.objects.create(organization=outsider.organization, slug="secret", name="Secret")
    client.force_login(vendor.user)
    for path in ("/vendor/models/secret/", "/vendor/models/secret/license/", "/vendor/models/secret/plans/"):
        assert client.get(path).status_code == 404


def test_license_plan_and_publish_through_the_pages(client, vendor):
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="tiny", name="Tiny")
    ready_version(model)
    response = client.post("/vendor/models/tiny/publish/", follow=True)
    assert "Before publishing, add a license" in response.content.decode()
    response = client.post("/vendor/models/tiny/license/", {
        "kind": "custom", "identifier": "Tiny EULA", "text": "", "territory_mode": "anywhere"})
    assert "A custom EULA needs its full text" in response.content.decode()
    client.post("/vendor/models/tiny/license/", {
        "kind": "spdx", "identifier": "Apache-2.0", "commercial_use": "on", "territory_mode": "deny",
        "territories": "kp, ir"})
    license = License.objects.get(model=model, is_current=True)
    assert license.commercial_use and license.territories == ["IR", "KP"]
    response = client.post("/vendor/models/tiny/plans/", {"name": "Metered", "kind": "payg", "currency": "usd",
                                                           "unit": "call", "unit_price": "0.02"})
    assert response.status_code == 302
    assert Plan.objects.get(model=model).unit_price_minor == 2
    preview = client.post("/vendor/models/tiny/plans/preview/", {"name": "Pro", "kind": "subscription",
                          "currency": "eur", "unit": "call", "monthly_fee": "9", "included_calls": "1000"})
    assert "Subscription: 9.00 EUR a month, 1,000 calls included" in preview.content.decode()
    assert "Pay as you go: 0.02 USD per call" in client.get("/vendor/models/tiny/plans/").content.decode()
    client.post("/vendor/models/tiny/publish/")
    model.refresh_from_db()
    assert model.status == "published" and model.visibility == "public"
    client.post("/vendor/models/tiny/publish/", {"action": "unpublish"})
    model.refresh_from_db()
    assert model.status == "draft"


def test_version_page_shows_signature_figures_and_a_finished_timeline(client, vendor):
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="tiny", name="Tiny")
    ready_version(model, benchmark={"batches": {"1": {"p50_ms": 0.05, "p95_ms": 0.08},
                                                "8": {"p50_ms": 0.2, "p95_ms": 0.31}}})
    html = client.get("/vendor/models/tiny/versions/1.0.0/").content.decode()
    assert 'data-testid="version-status">ready' in html
    assert "<code>x</code>" in html and "FP32" in html
    assert "Benchmark: latency at batch 1 and 8</h2>" in html and ">batch 8</text>" in html and "0.310" in html
    assert "hx-trigger" not in html  # finished: the timeline no longer polls
    assert "The figures of a ready version" not in html  # the template's own note stays out of the page


def test_the_poll_that_sees_the_pipeline_end_brings_the_figures_without_a_reload(client, vendor):
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="tiny", name="Tiny")
    ready_version(model, benchmark={"batches": {"1": {"p50_ms": 0.05, "p95_ms": 0.08}}})
    response = client.get("/vendor/models/tiny/versions/1.0.0/timeline/?live=1", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "HX-Refresh" not in response.headers
    assert 'data-testid="version-status">ready' in html and "hx-trigger" not in html
    assert '<div id="version-results" hx-swap-oob="true">' in html
    assert "The figures of a ready version" not in html  # the template's own note stays out of the page
    assert "<code>x</code>" in html and "Benchmark: latency at batch 1</h2>" in html and ">p95</li>" in html
    # A poll of a page that was not watching the pipeline (no live=1) gets the timeline alone.
    assert "version-results" not in client.get("/vendor/models/tiny/versions/1.0.0/timeline/").content.decode()


def test_failed_version_shows_the_reason_and_what_to_do(client, vendor):
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="bad", name="Bad")
    version = ready_version(model)
    type(version).objects.filter(pk=version.pk).update(
        status="failed", failure={"stage": "scanning", "reason": "raw pickles are refused",
                                  "hint": "upload a .pt2 from torch.export.save"})
    html = client.get("/vendor/models/bad/versions/1.0.0/timeline/").content.decode()
    assert "Failed at scanning" in html and "raw pickles are refused" in html
    assert "What to do: upload a .pt2 from torch.export.save" in html


def test_suspended_model_shows_the_staff_reason_to_its_vendor(client, vendor, staff):
    model = published_model(vendor.organization)
    client.force_login(staff.user)
    client.post(f"/dashboard/marketplace/models/{model.pk}/suspend/", {"reason": "Misleading benchmark claims"})
    client.force_login(vendor.user)
    html = client.get("/vendor/models/tiny/").content.decode()
    assert "Misleading benchmark claims" in html and "Suspended by Modelbay staff" in html
    response = client.post("/vendor/models/tiny/publish/", follow=True)
    assert "suspended by staff" in response.content.decode()


def test_earnings_page_renders_charts_and_payout_state(client, vendor):
    client.force_login(vendor.user)
    html = client.get("/vendor/earnings/").content.decode()
    assert "Calls per day by model" in html and "<svg" in html
    assert "No earnings yet" in html


def test_only_staff_can_suspend_a_listing(client, vendor, buyer):
    model = published_model(vendor.organization)
    client.force_login(buyer.user)
    response = client.post(f"/dashboard/marketplace/models/{model.pk}/suspend/", {"reason": "I do not like it"})
    assert response.status_code == 403
    model.refresh_from_db()
    assert model.status == "published"


def test_suspension_needs_a_reason_for_the_vendor(client, vendor, staff):
    model = published_model(vendor.organization)
    client.force_login(staff.user)
    response = client.post(f"/dashboard/marketplace/models/{model.pk}/suspend/", {"reason": "  "}, follow=True)
    assert "Give the vendor a reason" in response.content.decode()
    model.refresh_from_db()
    assert model.status == "published"


def _ready_llm_version(model):
    """A ready language-model version with the figures the LLM pipeline stores (see llm_stages)."""
    version = ready_version(model)
    type(version).objects.filter(pk=version.pk).update(
        kind="llm", int4_artifact=version.onnx_artifact, int4_sha256="0" * 64, int4_size=270_000,
        signature={"kind": "llm", "architecture": "LlamaForCausalLM", "family": "llama", "context_length": 4096,
                   "vocab_size": 32000, "eos_token_ids": [2], "has_chat_template": True, "parameters": 124_439_808},
        parity={"kind": "generation", "passed": True, "prompts": 8, "new_tokens": 32,
                "fp32": {"exact": True, "first_divergence": None, "tokenizer_exact": True},
                "int4": {"token_agreement": 0.9102, "mean_abs_logit_diff": 0.0421, "positions": 256,
                         "method": "teacher-forced over the fp32 greedy continuations"}},
        optimization={"serving_layout": "genai_zip", "fp32": {"precision": "fp32", "size_bytes": 497_000_000},
                      "int4": {"precision": "int4", "size_bytes": 121_000_000}},
        benchmark={"kind": "generation", "prompt_tokens": 128, "new_tokens": 32, "runs": 3, "variants": {
            "fp32": {"ttft_ms": 41.25, "decode_tokens_per_s": 63.4, "size_bytes": 497_000_000, "precision": "fp32"},
            "int4": {"ttft_ms": 29.5, "decode_tokens_per_s": 118.2, "size_bytes": 121_000_000, "precision": "int4"}}},
    )
    return version


def test_language_model_version_page_shows_parity_parameters_context_and_both_variants(client, vendor):
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="chat", name="Chat")
    _ready_llm_version(model)
    html = client.get("/vendor/models/chat/versions/1.0.0/").content.decode()
    assert 'data-testid="llm-card"' in html and "FP32" not in html  # no tensor signature table
    assert "124,439,808 (124.4 M)" in html and "4096 tokens" in html
    assert "fp32 generates token for token what transformers generates" in html
    assert "8 prompts × 32 new tokens" in html
    assert "<strong>91%</strong> token agreement with fp32 (0.9102)" in html and "<strong>0.0421</strong>" in html
    rows = html.split('data-testid="llm-variants"')[1]
    assert '<tr data-precision="fp32"><td>served</td><td>fp32</td><td class="num">474.0\xa0MB</td>' in rows
    assert '<tr data-precision="int4"><td>offered option</td><td>int4</td>' in rows
    assert "29.50" in rows and "118.2" in rows and "41.25" in rows and "63.4" in rows
    assert ">int4</text>" in html and "time to first token</li>" in html  # the time-to-first-token chart


def test_language_model_card_arrives_with_the_poll_that_sees_the_pipeline_end(client, vendor):
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="chat", name="Chat")
    _ready_llm_version(model)
    html = client.get("/vendor/models/chat/versions/1.0.0/timeline/?live=1", HTTP_HX_REQUEST="true").content.decode()
    assert '<div id="version-results" hx-swap-oob="true">' in html and 'data-testid="llm-card"' in html
    assert "hx-trigger" not in html


def test_language_model_that_fails_parity_shows_the_diverging_prompt_and_token(client, vendor):
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="chat", name="Chat")
    version = _ready_llm_version(model)
    type(version).objects.filter(pk=version.pk).update(status="failed", failure={
        "stage": "validating", "code": "generation_parity_failed",
        "reason": "prompt 3 ('Once upon a time there was a') first differs at generated token 17",
        "hint": "Check that the checkpoint loads in transformers"})
    html = client.get("/vendor/models/chat/versions/1.0.0/").content.decode()
    assert "Failed at validating" in html and "first differs at generated token 17" in html
    assert 'data-testid="llm-card"' not in html  # no card for a version that is not ready
