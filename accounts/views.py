"""Account pages: sign up, log out, organizations, members and invitations, API keys (logging in,
password reset, two-factor sign-in and email confirmation are in accounts/views_security.py).

Each view parses a form and calls one service (accounts.services / accounts.onboarding) or
selector; the services audit every write, exactly as for the API.
"""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import onboarding, selectors, services, two_factor
from accounts.forms import (
    ApiKeyForm,
    InviteForm,
    OrganizationForm,
    RoleForm,
    SignUpForm,
)
from accounts.models import ApiKey
from accounts.pages import add_error, flash_error, org_required
from accounts.tenancy import client_ip
from core.errors import ApplicationError, NotFound, PermissionDenied


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


@never_cache
def signup(request: HttpRequest) -> HttpResponse:
    token = request.POST.get("invitation") or request.GET.get("invitation") or ""
    if request.user.is_authenticated:
        return redirect("accounts:invitation", token=token) if token else redirect("accounts:keys")
    invitation = None
    if token:
        try:
            invitation = onboarding.invitation_by_token(token=token)
        except NotFound as error:
            flash_error(request, error)
            token = ""
    invited_email = invitation.email if invitation and invitation.is_pending() else ""
    form = SignUpForm(request.POST or None, invited_email=invited_email, initial={"invitation": token})
    if request.method == "POST" and form.is_valid():
        try:
            signed_up = onboarding.user_sign_up(
                email=form.cleaned_data["email"], password=form.cleaned_data["password"],
                organization_name=form.cleaned_data.get("organization_name", ""),
                invitation_token=token if invited_email else "", ip_address=client_ip(request),
            )
        except ApplicationError as error:
            add_error(form, error)
        else:
            if invited_email:
                # The invitation link came by email to this address: straight into the organization.
                login(request, signed_up.user, backend="django.contrib.auth.backends.ModelBackend")
                request.session["org"] = signed_up.organization.slug
                messages.success(request, f"Welcome to Modelbay. You are working in {signed_up.organization.name}. "
                                          "Confirm your address with the link we emailed you.")
                return redirect(_safe_next(request, reverse("accounts:keys")))
            # Known or new address, the same answer: nothing here says which (see user_sign_up).
            request.session["signup_email"] = form.cleaned_data["email"]
            return redirect("accounts:signup-sent")
    return render(request, "accounts/signup.html", {"form": form, "invitation": invitation if invited_email else None})


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("home")

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are logged out.")
        return response


@login_required
def organization_create(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = services.organization_create(
                owner=request.user, name=form.cleaned_data["name"], slug=form.cleaned_data["slug"],
                ip_address=client_ip(request),
            )
        except ApplicationError as error:
            add_error(form, error, "slug" if error.details.get("slug") else None)
        else:
            request.session["org"] = organization.slug
            messages.success(request, f"{organization.name} is created and is now your current organization.")
            return redirect("accounts:members")
    return render(request, "accounts/organization_create.html", {"form": form})


@login_required
@require_POST
def organization_switch(request: HttpRequest) -> HttpResponse:
    slug = request.POST.get("org", "")
    organization = selectors.organizations_for(user=request.user).filter(slug=slug).first()
    if organization is None:
        messages.error(request, "You are not a member of that organization.")
    else:
        request.session["org"] = organization.slug
        messages.success(request, f"Now working in {organization.name}.")
    return redirect(_safe_next(request, reverse("accounts:keys")))


@org_required
def members(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    form = InviteForm(request.POST or None)
    invite_link = ""
    if request.method == "POST" and form.is_valid():
        try:
            result = onboarding.member_invite(
                actor_membership=tenant.membership, email=form.cleaned_data["email"],
                role=form.cleaned_data["role"], ip_address=client_ip(request),
            )
        except PermissionDenied as error:
            flash_error(request, error)  # members see no invite form to attach the error to
        except ApplicationError as error:
            add_error(form, error)
        else:
            if result.membership is not None:
                messages.success(request, f"{result.membership.user.email} is now a member ({result.membership.role}).")
                return redirect("accounts:members")
            # The emailed link names SITE_URL; the one shown here names the host the inviter uses.
            invite_link = request.build_absolute_uri(reverse("accounts:invitation", kwargs={"token": result.token}))
            messages.success(request, f"Invitation sent to {result.invitation.email}.")
            form = InviteForm()
    return render(request, "accounts/members.html", {
        "form": form,
        "invite_link": invite_link,
        "memberships": selectors.memberships_for(organization=tenant.organization).order_by("created_at"),
        "invitations": selectors.invitations_pending_for(organization=tenant.organization),
        "can_manage": tenant.membership.can_manage,
        "role_form": RoleForm(),
    })


@org_required
@require_POST
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the listed roles.")
        return redirect("accounts:members")
    try:
        membership = services.membership_set_role(
            actor_membership=request.tenant.membership, membership_id=membership_id,
            role=form.cleaned_data["role"], ip_address=client_ip(request),
        )
    except ApplicationError as error:
        flash_error(request, error)
    else:
        messages.success(request, f"{membership.user.email} is now {membership.role}.")
    return redirect("accounts:members")


@org_required
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    try:
        invitation = onboarding.invitation_revoke(
            actor_membership=request.tenant.membership, invitation_id=invitation_id, ip_address=client_ip(request)
        )
    except ApplicationError as error:
        flash_error(request, error)
    else:
        messages.success(request, f"The invitation for {invitation.email} is withdrawn.")
    return redirect("accounts:members")


@never_cache
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = onboarding.invitation_by_token(token=token)
    except NotFound as error:
        return render(request, "accounts/invitation.html", {"error": error.message}, status=404)
    if request.method == "POST" and request.user.is_authenticated:
        try:
            membership = onboarding.invitation_accept(token=token, user=request.user, ip_address=client_ip(request))
        except ApplicationError as error:
            flash_error(request, error)
        else:
            request.session["org"] = membership.organization.slug
            messages.success(request, f"You joined {membership.organization.name} as {membership.role}.")
            return redirect("accounts:members")
    return render(request, "accounts/invitation.html", {
        "invitation": invitation,
        "token": token,
        "email_matches": request.user.is_authenticated and request.user.email.lower() == invitation.email.lower(),
    })


@org_required
@never_cache
def api_keys(request: HttpRequest) -> HttpResponse:
    """The secret is rendered only in the response to the POST that created it; the page is
    never cached and a reload is a GET, so it cannot be seen again."""
    tenant = request.tenant
    # Unconfirmed addresses can only create test keys (api_key_create): offer what will work.
    initial = {} if request.user.email_verified else {"mode": ApiKey.Mode.TEST}
    form = ApiKeyForm(request.POST or None, initial=initial)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            tenant.require_manager()
            api_key, secret = services.api_key_create(
                organization=tenant.organization, created_by=request.user, name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"], mode=form.cleaned_data["mode"],
                ip_address=client_ip(request),
            )
        except PermissionDenied as error:
            flash_error(request, error)  # members see no form to attach the error to
        except ApplicationError as error:
            add_error(form, error)
        else:
            created = {"key": api_key, "secret": secret}
            form = ApiKeyForm(initial=initial)
    keys = selectors.api_keys_for(organization=tenant.organization).select_related("created_by")
    return render(request, "accounts/api_keys.html", {
        "form": form, "created": created, "keys": keys, "can_manage": tenant.membership.can_manage,
        "email_verified": request.user.email_verified,
        "suggest_two_factor": tenant.membership.role == "owner" and not two_factor.two_factor_enabled(request.user),
    })


@org_required
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    tenant = request.tenant
    api_key = selectors.api_keys_for(organization=tenant.organization).filter(pk=key_id).first()
    if api_key is None:
        messages.error(request, "No such API key in this organization.")
        return redirect("accounts:keys")
    if request.method == "POST":
        try:
            tenant.require_manager()
            services.api_key_revoke(
                organization=tenant.organization, key_id=key_id, actor=request.user, ip_address=client_ip(request)
            )
        except ApplicationError as error:
            flash_error(request, error)
        else:
            messages.success(request, f"Key {api_key.display_prefix}… is revoked; calls with it now fail with 401.")
        return redirect("accounts:keys")
    return render(request, "accounts/api_key_revoke.html", {"key": api_key})
