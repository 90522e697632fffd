"""Signing in and proving who you are: the login form and its two-factor step, password reset,
the security page (turn two-factor sign-in on or off), and the email confirmation link.

A password alone never logs in an account with two-factor sign-in: the login form only records
which user passed it (in the session, for PENDING_SECONDS), and the code step logs in.
"""

import time

from axes.handlers.proxy import AxesProxyHandler
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from accounts import two_factor, verification
from accounts.forms import EmailAuthenticationForm, OneTimeCodeForm, ResilientPasswordResetForm
from accounts.lockout import lockout_response, login_username
from accounts.models import User
from accounts.pages import flash_error
from accounts.tenancy import client_ip
from core.errors import ApplicationError, RateLimited
from core.roles import organization_role

PENDING = "accounts.two_factor_pending"
PENDING_SECONDS = 300


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return landing_url(self.request)

    def form_valid(self, form) -> HttpResponse:
        user = form.get_user()
        if not two_factor.two_factor_enabled(user):
            return super().form_valid(form)
        self.request.session.cycle_key()  # a fresh session id for the half-signed-in state
        self.request.session[PENDING] = {
            "user": user.pk, "backend": user.backend, "at": time.time(),
            "next": self.get_redirect_url(),  # "" = land by role once the code step logs in
        }
        return redirect("accounts:login-code")


def landing_url(request: HttpRequest) -> str:
    """Where a signed-in user starts when no ?next= says otherwise: staff (the demo's staff user
    has no organization) on the dashboard, a vendor's organization in the vendor portal, a
    buyer's in the console, and a fresh one on its keys (settings.LOGIN_REDIRECT_URL)."""
    if request.user.is_staff:
        return reverse("dashboard:index")
    return {"vendor": "/vendor/", "buyer": "/console/"}.get(organization_role(request) or "",
                                                            settings.LOGIN_REDIRECT_URL)


class PasswordResetView(auth_views.PasswordResetView):
    form_class = ResilientPasswordResetForm
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password-reset-done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password-reset-complete")

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        # The emailed link proves the inbox: the address counts as confirmed, and the lockout on
        # this email (django-axes) is lifted so the new password works at once. Asking for a reset
        # changes nothing; only completing one does, so the reset form cannot be used to unlock.
        axes_reset(username=login_username(self.request, {"username": self.user.email}))
        if self.user.email_verified_at is None:
            verification.email_mark_verified(user=self.user, ip_address=client_ip(self.request))
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


def _pending_user(request: HttpRequest) -> tuple[User | None, dict]:
    pending = request.session.get(PENDING) or {}
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None, {}
    return User.objects.filter(pk=pending["user"], is_active=True).first(), pending


@never_cache
def login_code(request: HttpRequest) -> HttpResponse:
    user, pending = _pending_user(request)
    if user is None:
        request.session.pop(PENDING, None)
        messages.info(request, "Log in again: the step for your code lasts five minutes.")
        return redirect("accounts:login")
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        credentials = {"username": user.email}
        if not AxesProxyHandler.is_allowed(request, credentials):
            return lockout_response(request)
        try:
            device = two_factor.two_factor_verify(user=user, token=form.cleaned_data["code"])
        except RateLimited as error:
            device, refusal = None, error.message
        else:
            refusal = ("That code does not match. Enter the 6-digit code your authenticator app shows "
                       "now, or one of your backup codes.")
        if device is not None:
            del request.session[PENDING]
            login(request, user, backend=pending["backend"])
            otp_login(request, device)
            return redirect(pending["next"] or landing_url(request))
        # A refused code is a failed login: audited, and counted by django-axes (which answers
        # with the lockout page once the limit is reached).
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        form.add_error("code", refusal)
    return render(request, "accounts/login_code.html", {"form": form, "email": user.email})


@login_required
@never_cache
def security(request: HttpRequest) -> HttpResponse:
    """Two-factor status; enrolment (QR code and secret) when off, a disable form when on."""
    user = request.user
    form = OneTimeCodeForm(request.POST or None)
    backup_codes: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            if request.POST.get("action") == "disable":
                two_factor.two_factor_disable(user=user, token=form.cleaned_data["code"], ip_address=client_ip(request))
                messages.success(request, "Two-factor sign-in is off: your password alone now signs you in.")
                return redirect("accounts:security")
            device, backup_codes = two_factor.totp_confirm(
                user=user, token=form.cleaned_data["code"], ip_address=client_ip(request))
        except ApplicationError as error:
            form.add_error("code", error.message)
        else:
            otp_login(request, device)
            messages.success(request, "Two-factor sign-in is on. Save your backup codes now.")
            form = OneTimeCodeForm()
    enabled = two_factor.two_factor_enabled(user)
    context = {"form": form, "enabled": enabled, "backup_codes": backup_codes}
    if not enabled:
        device = two_factor.totp_pending(user=user)
        context.update(qr_svg=two_factor.totp_qr_svg(device), secret=two_factor.totp_secret(device))
    return render(request, "accounts/security.html", context)


@never_cache
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    try:
        user = verification.email_verify(token=token, ip_address=client_ip(request))
    except ApplicationError as error:
        return render(request, "accounts/email_verified.html", {"error": error.message}, status=400)
    if request.user.is_authenticated and request.user.pk == user.pk:
        messages.success(request, f"{user.email} is confirmed: you can create live keys now.")
        return redirect("accounts:keys")
    return render(request, "accounts/email_verified.html", {"email": user.email})


@login_required
@require_POST
def verify_email_resend(request: HttpRequest) -> HttpResponse:
    try:
        verification.verification_resend(user=request.user)
    except ApplicationError as error:
        flash_error(request, error)
    else:
        messages.success(request, f"We sent a new confirmation link to {request.user.email}.")
    return redirect("accounts:keys")


def signup_sent(request: HttpRequest) -> HttpResponse:
    """The one answer to every sign-up without an invitation, whether or not the address was known."""
    return render(request, "accounts/signup_sent.html", {"email": request.session.get("signup_email", "")})
