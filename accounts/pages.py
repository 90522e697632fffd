"""What every portal page needs: the organization it acts for, and errors shown as messages.

Page views resolve the tenant with the same `tenant_for` as the API (session["org"] chosen in
the switcher, else the first membership), so a page can never see more than the API would.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.tenancy import Tenant, tenant_for
from core.errors import ApplicationError, NotFound


def current_tenant(request: HttpRequest) -> Tenant | None:
    """The tenant for a logged-in session, or None when the user belongs to no organization.

    A stale session["org"] (the user left or was removed) falls back to the first membership.
    """
    if not request.user.is_authenticated:
        return None
    try:
        return tenant_for(request)
    except NotFound:
        if request.session.pop("org", None) is None:
            return None
    try:
        return tenant_for(request)
    except NotFound:
        return None


def org_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in and in an organization; the view finds it as `request.tenant`."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        tenant = current_tenant(request)
        if tenant is None:
            messages.info(request, "Create an organization first: keys, models and plans belong to one.")
            return redirect("accounts:org-create")
        request.tenant = tenant
        return view(request, *args, **kwargs)

    return wrapper


def add_error(form: Form, error: ApplicationError, field: str | None = None) -> None:
    """A service's refusal shown on the form, in the service's own words."""
    form.add_error(field, error.message)


def flash_error(request: HttpRequest, error: ApplicationError) -> None:
    messages.error(request, error.message)
