"""django-axes hooks: how a login attempt is named, and the page a locked-out visitor sees.

Failed logins are counted per email and per client address (settings AXES_*); past the limit,
the login form is refused before any password is checked, for existing and unknown emails alike,
so the answer says nothing about whether an account exists.
"""

from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def login_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The attempted email, lower-cased, so `Ada@X` and `ada@x` share one counter."""
    raw = (credentials or {}).get("username")
    if raw is None:
        raw = request.POST.get("username") if request is not None else None
    return raw.strip().lower()[:255] if raw else None


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """429 with Retry-After and a page that says what to do: wait, or reset the password."""
    seconds = max(int(get_cool_off(request).total_seconds()), 1)
    minutes = max(round(seconds / 60), 1)
    response = render(request, "accounts/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(seconds)
    return response
