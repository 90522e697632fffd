"""Buyer console: subscriptions (accept the license, choose a plan, pay) and their list."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.pages import add_error, flash_error, org_required
from accounts.tenancy import client_ip
from core.errors import ApplicationError, NotFound
from marketplace.models import Entitlement, Plan
from marketplace.selectors import catalog
from marketplace.selectors.entitlements import acceptances_of, entitlements_of
from marketplace.services.entitlements import entitlement_set_status, entitlement_subscribe
from marketplace.views.common import license_terms, plan_summary
from marketplace.views.forms import SubscribeForm


@org_required
def home(request: HttpRequest) -> HttpResponse:
    organization = request.tenant.organization
    entitlements = list(entitlements_of(organization=organization).order_by("-created_at")[:50])
    for entitlement in entitlements:
        entitlement.plan_text = plan_summary(entitlement.plan)
    return render(request, "console/home.html", {
        "section": "subscriptions", "entitlements": entitlements,
        "acceptances": list(acceptances_of(organization=organization)[:20]),
    })


def _checkout_wanted(plan: Plan) -> bool:
    from billing.stripe_client import stripe_enabled  # billing sits above marketplace: import late

    return plan.kind != Plan.Kind.FREE and stripe_enabled()


@org_required
def subscribe(request: HttpRequest, vendor: str, slug: str) -> HttpResponse:
    try:
        model = catalog.catalog_model_get(vendor=vendor, slug=slug)
    except NotFound as error:
        raise Http404(error.message) from error
    license = catalog.catalog_license(model=model)
    plans = list(catalog.catalog_plans(model=model))
    choices = [(p.pk, f"{p.name} — {plan_summary(p)}") for p in plans]
    organization = request.tenant.organization
    form = SubscribeForm(request.POST or None, plans=choices, commercial_use=license is None or license.commercial_use,
                         initial={"license_id": license.pk if license else None,
                                  "territory": organization.country.upper(),
                                  "plan": plans[0].pk if len(plans) == 1 else None})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            entitlement = entitlement_subscribe(
                organization=organization, user=request.user, model=model, plan_id=data["plan"],
                declared_use=data["declared_use"], territory=data["territory"], license_id=data["license_id"],
                ip_address=client_ip(request),
            )
        except ApplicationError as error:
            add_error(form, error)
        else:
            if _checkout_wanted(entitlement.plan):
                return _to_checkout(request, entitlement)
            messages.success(request, f"Subscribed to {model.name} ({entitlement.plan.name}). "
                                      "Usage is billed from the local ledger.")
            return redirect("console:home")
    return render(request, "console/subscribe.html", {
        "model": model, "license": license, "terms": license_terms(license), "form": form, "plans": plans,
    })


def _to_checkout(request: HttpRequest, entitlement: Entitlement) -> HttpResponse:
    """Stripe Checkout (setup mode) saves the card the subscription's invoices are charged to."""
    from billing.services.checkout import checkout_setup_link

    done = request.build_absolute_uri(reverse("console:checkout-done")) + f"?entitlement={entitlement.pk}"
    back = request.build_absolute_uri(reverse("console:home"))
    try:
        link = checkout_setup_link(organization=request.tenant.organization, success_url=done, cancel_url=back)
    except ApplicationError as error:
        flash_error(request, error)
        return redirect("console:home")
    return redirect(link["url"])


@org_required
def checkout_done(request: HttpRequest) -> HttpResponse:
    entitlement = entitlements_of(organization=request.tenant.organization).filter(
        pk=request.GET.get("entitlement") or 0).first()
    if entitlement is not None:
        messages.success(request, f"Payment method saved. You are subscribed to {entitlement.model.name} "
                                  f"({entitlement.plan.name}).")
    return redirect("console:home")


@org_required
def cancel(request: HttpRequest, entitlement_id: int) -> HttpResponse:
    if request.method != "POST":
        return redirect("console:home")
    try:
        entitlement = entitlement_set_status(organization=request.tenant.organization, entitlement_id=entitlement_id,
                                             status=Entitlement.Status.CANCELLED, actor=request.user,
                                             ip_address=client_ip(request))
    except ApplicationError as error:
        flash_error(request, error)
    else:
        messages.success(request, f"Subscription to {entitlement.model.name} cancelled.")
    return redirect("console:home")


@org_required
def data(request: HttpRequest) -> HttpResponse:
    """Data policy, export, erase — the same privacy services as /api/v1/account/*."""
    from accounts import privacy

    organization = request.tenant.organization
    can_manage = request.tenant.membership is not None and request.tenant.membership.can_manage
    if request.method == "POST" and request.POST.get("action") == "policy" and can_manage:
        try:
            minutes = int(request.POST.get("retention_minutes") or organization.retention_minutes)
            privacy.organization_data_policy_set(
                organization=organization, actor=request.user, data_policy=request.POST.get("data_policy", ""),
                retention_minutes=minutes, ip_address=client_ip(request))
            messages.success(request, "Data policy saved.")
        except ValueError:
            messages.error(request, "Minutes to keep async results must be a whole number.")
        except ApplicationError as error:
            flash_error(request, error)
        return redirect("console:data")
    if request.method == "POST" and request.POST.get("action") == "export":
        try:
            payload = privacy.organization_export(organization=organization, actor=request.user,
                                                  ip_address=client_ip(request))
        except ApplicationError as error:
            flash_error(request, error)
            return redirect("console:data")
        body, content_type = privacy.export_as_file(payload)
        response = HttpResponse(body, content_type=content_type)
        name = privacy.export_download_name(organization=organization, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    if request.method == "POST" and request.POST.get("action") == "erase":
        try:
            privacy.organization_erase(organization=organization, actor_membership=request.tenant.membership,
                                       confirm=request.POST.get("confirm", "").strip(), ip_address=client_ip(request))
        except ApplicationError as error:
            flash_error(request, error)
            return redirect("console:data")
        request.session.pop("org", None)
        messages.success(request, "The organization's personal data is erased. Invoices and anonymised usage remain.")
        return redirect("home")
    return render(request, "console/data.html", {
        "section": "data", "organization": organization, "ttl_minutes": privacy.result_ttl_seconds(organization) // 60,
        "is_owner": request.tenant.membership is not None and request.tenant.membership.role == "owner",
        "can_manage": can_manage,
    })
