"""Vendor portal: a listing's terms (license, plans) and publishing. The license form fills the
permissions from the chosen SPDX license (marketplace.license_presets) and warns where they differ;
the plan form shows the fields of the plan type, the vendor's share and a month's estimate."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.pages import add_error, flash_error, org_required
from accounts.tenancy import client_ip
from core.errors import ApplicationError, NotFound
from marketplace.license_presets import PERMISSION_FIELDS, PRESETS, license_warnings, preset_for
from marketplace.models import Model, Plan
from marketplace.selectors.catalog import catalog_license
from marketplace.selectors.listings import vendor_model_get
from marketplace.services.licensing import license_set, license_warnings_of
from marketplace.services.plans import model_publish, model_unpublish, plan_create, plan_update
from marketplace.views.common import license_terms, plan_summary
from marketplace.views.plan_estimate import fee_percent, monthly_estimate, vendor_share_percent
from marketplace.views.vendor_forms import LicenseForm, PlanForm


def _model(request: HttpRequest, slug: str) -> Model:
    return vendor_model_get(organization=request.tenant.organization, slug=slug)


def _not_found(request: HttpRequest, error: NotFound) -> HttpResponse:
    return render(request, "404.html", {"message": error.message}, status=404)


def _license_check_context(form: LicenseForm) -> dict:
    """The chosen license's preset and the warnings for the permissions as currently ticked."""
    data = form.data
    kind = data.get("kind") or form.initial.get("kind") or "spdx"
    chosen = data.get("spdx_id") if form.is_bound else form.initial.get("spdx_id")
    identifier = chosen if chosen and chosen != "other" else (data.get("identifier") or form.initial.get("identifier"))
    preset = preset_for(identifier) if kind == "spdx" else None
    if form.is_bound:
        ticked = {name: data.get(name) in ("on", "true", "1") for name in PERMISSION_FIELDS}
    else:
        ticked = {name: bool(form.initial.get(name)) for name in PERMISSION_FIELDS}
    warnings = license_warnings(kind=kind, identifier=identifier or "", **ticked) if preset else []
    return {"preset": preset, "license_warnings": warnings}


@org_required
def license_edit(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        model = _model(request, slug)
    except NotFound as error:
        return _not_found(request, error)
    current = catalog_license(model=model)
    initial = {}
    if current is not None:
        listed = preset_for(current.identifier) if current.kind == "spdx" else None
        initial = {"kind": current.kind, "spdx_id": listed.spdx_id if listed else "other" if current.kind == "spdx"
                   else "", "identifier": "" if listed else current.identifier, "text": current.text,
                   "commercial_use": current.commercial_use, "weight_download": current.weight_download,
                   "attribution_required": current.attribution_required,
                   "derivatives_allowed": current.derivatives_allowed, "territory_mode": current.territory_mode,
                   "territories": ", ".join(current.territories), "max_monthly_calls": current.max_monthly_calls,
                   "expires_at": current.expires_at}
    form = LicenseForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = license_set(model=model, actor=request.user, ip_address=client_ip(request),
                                **form.service_kwargs())
        except ApplicationError as error:
            add_error(form, error)
        else:
            messages.success(request, f"License saved as revision {saved.revision}. New subscribers accept this one.")
            for warning in license_warnings_of(saved):
                messages.warning(request, warning["message"])
            return redirect("vendor:model", slug=model.slug)
    return render(request, "vendor/license.html", {
        "model": model, "form": form, "current": current, "terms": license_terms(current), "presets": PRESETS,
        **_license_check_context(form)})


@org_required
def license_check(request: HttpRequest, slug: str) -> HttpResponse:
    """htmx: what the chosen license grants and where the ticked permissions differ (not saved)."""
    try:
        _model(request, slug)
    except NotFound as error:
        return _not_found(request, error)
    return render(request, "vendor/_license_check.html", _license_check_context(LicenseForm(request.POST)))


def _plans_context(model: Model) -> dict:
    plans = list(Plan.objects.filter(model=model).order_by("id"))
    for plan in plans:
        plan.summary = plan_summary(plan)
    license = catalog_license(model=model)
    return {"model": model, "plans": plans, "active_plans": [p for p in plans if p.is_active], "license": license,
            "terms": license_terms(license), "share_percent": vendor_share_percent(), "fee_percent": fee_percent()}


@org_required
def plans_edit(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        model = _model(request, slug)
    except NotFound as error:
        return _not_found(request, error)
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            plan = plan_create(model=model, actor=request.user, ip_address=client_ip(request), **form.service_kwargs())
        except ApplicationError as error:
            add_error(form, error)
        else:
            messages.success(request, f"Plan “{plan.name}” added.")
            return redirect("vendor:plans", slug=model.slug)
    return render(request, "vendor/plans.html", {"form": form, **_plans_context(model)})


@org_required
def plan_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """htmx: the line a buyer would read for the plan being typed and what a month of it brings the
    vendor (not saved, no rules applied)."""
    form = PlanForm(request.POST)
    text = estimate = ""
    if form.is_valid():
        plan = Plan(**form.service_kwargs())
        text = plan_summary(plan)
        estimate = monthly_estimate(plan, form.cleaned_data.get("estimate_volume") or 0).text
    return render(request, "vendor/_plan_preview.html", {"text": text, "estimate": estimate, "form": form,
                                                        "oob": True})


@org_required
@require_POST
def plan_toggle(request: HttpRequest, slug: str, plan_id: int) -> HttpResponse:
    try:
        model = _model(request, slug)
        plan = plan_update(model=model, plan_id=plan_id, actor=request.user, ip_address=client_ip(request),
                           is_active=request.POST.get("active") == "1")
    except ApplicationError as error:
        flash_error(request, error)
    else:
        messages.success(request, f"Plan “{plan.name}” is now {'offered' if plan.is_active else 'withdrawn'}.")
    return redirect("vendor:plans", slug=slug)


@org_required
@require_POST
def publish(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        model = _model(request, slug)
        if request.POST.get("action") == "unpublish":
            model_unpublish(model=model, actor=request.user, ip_address=client_ip(request))
            messages.success(request, "Unpublished: the model left the catalog. Existing buyers keep access.")
        else:
            model_publish(model=model, actor=request.user, ip_address=client_ip(request))
            messages.success(request, "Published: buyers can find it in the catalog now.")
    except ApplicationError as error:
        flash_error(request, error)
    return redirect("vendor:model", slug=slug)
