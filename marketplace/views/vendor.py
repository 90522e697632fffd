"""Vendor portal: listings, uploads with a live pipeline timeline, versions (license, plans and
publishing are in vendor_terms.py)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.pages import add_error, org_required
from core.charts import BarSeries, bar_chart
from core.errors import ApplicationError, NotFound
from inference.conversion.steps.llm_detect import SUPPORTED
from marketplace.models import Model, ModelVersion, Plan
from marketplace.selectors.catalog import catalog_license
from marketplace.selectors.listings import (
    model_version_get,
    model_versions,
    vendor_model_get,
    vendor_models,
)
from marketplace.selectors.publishing import publish_checklist
from marketplace.services.listings import model_create, model_update
from marketplace.services.versions import STAGES
from marketplace.views.common import benchmark_card, license_terms, plan_summary, render_markdown
from marketplace.views.forms import UploadForm
from marketplace.views.vendor_forms import ModelForm

STATUS_TONE = {"draft": "neutral", "published": "ok", "suspended": "bad", "ready": "ok", "failed": "bad",
               "quarantined": "bad"}


def _model(request: HttpRequest, slug: str) -> Model:
    return vendor_model_get(organization=request.tenant.organization, slug=slug)


def _not_found(request: HttpRequest, error: NotFound) -> HttpResponse:
    return render(request, "404.html", {"message": error.message}, status=404)


@org_required
def models_list(request: HttpRequest) -> HttpResponse:
    models = list(vendor_models(organization=request.tenant.organization).prefetch_related("versions"))
    for model in models:
        versions = sorted(model.versions.all(), key=lambda v: v.created_at, reverse=True)
        model.latest = versions[0] if versions else None
        model.tone = STATUS_TONE.get(model.status, "neutral")
    return render(request, "vendor/models.html", {"models": models})


@org_required
def model_create_page(request: HttpRequest) -> HttpResponse:
    form = ModelForm(request.POST or None, creating=True)
    if request.method == "POST" and form.is_valid():
        try:
            model = model_create(organization=request.tenant.organization, **form.cleaned_data)
        except ApplicationError as error:
            add_error(form, error)
        else:
            messages.success(request, f"Model “{model.name}” created. Upload a first version.")
            return redirect("vendor:upload", slug=model.slug)
    return render(request, "vendor/model_form.html", {"form": form, "title": "New model"})


@org_required
def model_edit(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        model = _model(request, slug)
    except NotFound as error:
        return _not_found(request, error)
    initial = {"name": model.name, "slug": model.slug, "task": model.task, "description": model.description,
               "tags": ", ".join(model.tags), "visibility": model.visibility}
    form = ModelForm(request.POST or None, initial=initial, current_task=model.task, creating=False)
    if request.method == "POST" and form.is_valid():
        try:
            model = model_update(model=model, **form.cleaned_data)
        except ApplicationError as error:
            add_error(form, error)
        else:
            messages.success(request, "Saved.")
            return redirect("vendor:model", slug=model.slug)
    return render(request, "vendor/model_form.html", {"form": form, "model": model, "title": f"Edit {model.name}"})


@org_required
def model_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        model = _model(request, slug)
    except NotFound as error:
        return _not_found(request, error)
    license = catalog_license(model=model)
    plans = list(Plan.objects.filter(model=model).order_by("id"))
    for plan in plans:
        plan.summary = plan_summary(plan)
    checklist = publish_checklist(model=model)
    return render(request, "vendor/model_detail.html", {
        "model": model, "tone": STATUS_TONE.get(model.status, "neutral"),
        "description_html": render_markdown(model.description),
        "versions": model_versions(model=model).order_by("-created_at"), "license": license,
        "terms": license_terms(license), "plans": plans, "status_tone": STATUS_TONE,
        "checklist": checklist, "ready_to_publish": all(item.done for item in checklist),
    })


@org_required
def upload(request: HttpRequest, slug: str) -> HttpResponse:
    """The form posts to the vendor API with XHR (progress of the upload bytes); the API answers
    with the version, and the page moves on to its live timeline."""
    try:
        model = _model(request, slug)
    except NotFound as error:
        return _not_found(request, error)
    return render(request, "vendor/upload.html", {
        "model": model, "form": UploadForm(),
        "api_url": reverse("vendor-versions", kwargs={"slug": model.slug}),
        "version_url": reverse("vendor:version", kwargs={"slug": model.slug, "version": "__v__"}),
    })


def _timeline(version: ModelVersion) -> list[dict]:
    stages = version.stages or {}
    rows = [{"name": "received", "state": "done", "duration": None, "started_at": version.created_at}]
    for name in STAGES:
        entry = stages.get(name) or {}
        state = entry.get("state", "pending")
        note = (entry.get("detail") or {}).get("reason", "") if state == "skipped" else ""
        rows.append({"name": name, "state": state, "duration": None if state == "skipped" else entry.get("duration"),
                     "started_at": entry.get("started_at"), "note": note})
    broken = version.status in ("failed", "quarantined")
    if broken:
        for row in rows:
            row["state"] = "notrun" if row["state"] == "pending" else row["state"]
    final = version.status if version.status in ("ready", "failed", "quarantined") else "ready"
    state = "failed" if broken else "done" if version.status == final else "pending"
    rows.append({"name": final, "state": state, "duration": None, "started_at": version.ready_at})
    return rows


def _version_context(request: HttpRequest, slug: str, version: str) -> dict:
    model = _model(request, slug)
    found = model_version_get(model=model, version=version)
    finished = found.status in ("ready", "failed", "quarantined")
    return {"model": model, "version": found, "timeline": _timeline(found), "finished": finished,
            "tone": STATUS_TONE.get(found.status, "warn"), "failure": found.failure or {}}


def _results_context(found: ModelVersion) -> dict:
    """What `_results.html` shows of a ready version: signature, sizes, parity, benchmark."""
    if found.kind == ModelVersion.Kind.LLM:
        return {"llm": _llm_card(found)}
    bench = benchmark_card(found)
    return {
        "bench": bench, "batches": bench["batches"], "int8": (found.optimization or {}).get("int8"), "parity": found.parity or {},
        "parity_outputs": sorted(((found.parity or {}).get("outputs") or {}).items()),
    }


def _llm_card(found: ModelVersion) -> dict:
    """A language model's card: parity of each variant and its size and speed at one stream."""
    parity, benchmark = found.parity or {}, found.benchmark or {}
    optimization, figures = found.optimization or {}, benchmark.get("variants") or {}
    variants = [{"precision": precision, "served": precision == "fp32", **(optimization.get(precision) or {}),
                 **(figures.get(precision) or {})} for precision in ("fp32", "int4")
                if optimization.get(precision) or figures.get(precision)]  # fmt: skip
    timed = [v for v in variants if v.get("ttft_ms") is not None]
    ttft_chart = bar_chart(title="Time to first token at one stream (milliseconds)",
                           categories=[v["precision"] for v in timed],
                           series=[BarSeries("time to first token", [float(v["ttft_ms"]) for v in timed])])
    count = (found.signature or {}).get("parameters")
    parameters = f"{count:,}" + (f" ({count / 1e6:.1f} M)" if count >= 10**6 else "") if isinstance(count, int) else "?"
    family = (found.signature or {}).get("family")
    family_name = next((name for key, name in SUPPORTED.values() if key == family), family)
    return {"signature": found.signature or {}, "family": family_name, "parameters": parameters,
            "parity": parity, "fp32": parity.get("fp32") or {},
            "int4": parity.get("int4"), "variants": variants, "prompt_tokens": benchmark.get("prompt_tokens"),
            "ttft_chart": ttft_chart}  # fmt: skip


@org_required
def version_detail(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    try:
        context = _version_context(request, slug, version)
    except NotFound as error:
        return _not_found(request, error)
    context.update(_results_context(context["version"]))
    return render(request, "vendor/version.html", context)


@org_required
def version_timeline(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    """The htmx partial polled every second until the pipeline finishes (then it stops polling).
    The poll that sees the end also carries the figures, which exist only now, swapped in out of
    band: the page shows them without a reload that would lose the vendor's place."""
    try:
        context = _version_context(request, slug, version)
    except NotFound as error:
        return _not_found(request, error)
    html = render_to_string("vendor/_timeline.html", context, request=request)
    if context["finished"] and request.GET.get("live") == "1":
        context.update(_results_context(context["version"]), oob=True)
        html += render_to_string("vendor/_results.html", context, request=request)
    return HttpResponse(html)
