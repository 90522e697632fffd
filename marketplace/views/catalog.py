"""The public catalog: search with filters, and a model's page (card, license, plans, figures)."""

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.pages import current_tenant
from accounts.selectors import api_key_prefix_for_snippets
from core.errors import NotFound
from marketplace.llm_snippets import llm_snippets
from marketplace.model_tasks import TASKS
from marketplace.models import License, ModelVersion, Plan
from marketplace.selectors import catalog
from marketplace.selectors.entitlements import entitlement_for
from marketplace.snippets import key_placeholder, tensor_snippets
from marketplace.views.common import (
    benchmark_card,
    license_terms,
    money,
    plan_summary,
    render_markdown,
)
from marketplace.views.vendor import STATUS_TONE


class CatalogFilters(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search",
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "name or description"}))
    task = forms.ChoiceField(required=False, label="Task", choices=[("", "Any task"), *TASKS])
    # Words a buyer knows, not the model's choice labels ("Spdx", "Custom").
    license_kind = forms.ChoiceField(required=False, label="License", choices=[
        ("", "Any license"), (License.Kind.SPDX, "Open license (SPDX)"), (License.Kind.CUSTOM, "Vendor's own license")])
    commercial = forms.ChoiceField(required=False, label="Commercial use",
                                   choices=[("", "Either"), ("true", "Allowed"), ("false", "Not allowed")])
    price_max = forms.DecimalField(required=False, min_value=0, decimal_places=2, label="Max price (USD)",
                                   widget=forms.NumberInput(attrs={"step": "0.01", "title": "per call, or per month for subscriptions"}))
    latency_max_ms = forms.FloatField(required=False, min_value=0, label="Max latency (ms)")
    kind = forms.ChoiceField(required=False, label="Kind", choices=[
        ("", "Any kind"), (ModelVersion.Kind.LLM, "Language models"), (ModelVersion.Kind.TENSOR, "Tensor models")])
    ordering = forms.ChoiceField(required=False, label="Sort by", choices=[
        ("name", "Name"), ("newest", "Newest"), ("price", "Price"), ("latency", "Latency")])


def catalog_list(request: HttpRequest) -> HttpResponse:
    form = CatalogFilters(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    price = data.get("price_max")
    models = list(catalog.catalog_search(
        q=data.get("q") or "", task=data.get("task") or "", license_kind=data.get("license_kind") or "",
        commercial=None if not data.get("commercial") else data["commercial"] == "true",
        price_max=int(price * 100) if price is not None else None, latency_max_ms=data.get("latency_max_ms"),
        ordering=data.get("ordering") or "name", kind=data.get("kind") or "",
    ))
    for model in models:
        version = catalog.latest_ready_version(model)
        model.latency = catalog.version_latency_ms(version)
        model.license = catalog.catalog_license(model=model)
        model.price_text = _price_text(model)
    # How many filters narrow the list: the phone layout keeps the filter panel folded unless some do.
    active = sum(1 for name, value in data.items() if name != "ordering" and value not in (None, ""))
    return render(request, "catalog/list.html", {"form": form, "models": models,
                                                 "active_filters": active})


def _price_text(model) -> str:
    if model.min_price is not None:
        return "free" if model.min_price == 0 else f"from {money(model.min_price, 'usd')}"
    # Only token plans (no per-call minimum): their prices per million tokens.
    tokens = catalog.catalog_plans(model=model).filter(unit=Plan.Unit.TOKENS).first()
    return plan_summary(tokens).removeprefix("Pay as you go: ") if tokens else "—"


def catalog_detail(request: HttpRequest, vendor: str, slug: str) -> HttpResponse:
    try:
        model = catalog.catalog_model_get(vendor=vendor, slug=slug)
    except NotFound as error:
        raise Http404(error.message) from error
    license = catalog.catalog_license(model=model)
    plans = list(catalog.catalog_plans(model=model))
    for plan in plans:
        plan.summary = plan_summary(plan)
    versions = list(catalog.catalog_versions(model=model))
    latest = versions[0] if versions else None
    tenant = current_tenant(request)
    entitlement = entitlement_for(organization=tenant.organization, model=model) if tenant else None
    key_prefix = api_key_prefix_for_snippets(organization=tenant.organization, user=request.user) if tenant else None
    snippets = [] if latest is None else llm_snippets(
        base_url=request.build_absolute_uri("/"), model_name=model.full_name, key=key_placeholder(key_prefix),
    ) if latest.kind == ModelVersion.Kind.LLM else tensor_snippets(
        base_url=request.build_absolute_uri("/"), model_name=model.full_name, signature=latest.signature or {},
        key=key_placeholder(key_prefix), tokenizer=bool(latest.tokenizer_artifact))
    return render(request, "catalog/detail.html", {
        "model": model, "license": license, "terms": license_terms(license), "plans": plans,
        "versions": versions, "latest": latest, "description_html": render_markdown(model.description),
        "bench": benchmark_card(latest),
        "entitlement": entitlement, "own_model": tenant is not None and tenant.organization.pk == model.organization_id,
        "status_tone": STATUS_TONE,
        # Snippets name the host the buyer reached us on, as the invitation link shown on a page does.
        "api_base": request.build_absolute_uri("/v1"),
        "snippets": snippets, "key_prefix": key_prefix, "tokenizer": bool(latest and latest.tokenizer_artifact),
    })
