"""Response rules that hold for every request, whatever DEBUG says.

- API paths answer API errors. With DEBUG on, Django answers an unmatched URL with its technical
  404 page, which lists every URL pattern of the site, and an unhandled exception (or a
  SuspiciousOperation, 400) with its technical 500 page, which shows settings and the local
  variables of every frame, a buyer's tensors among them; handler404/handler500 are only
  consulted with DEBUG off. Django still logs the exception (django.request, without the body).
- HTML pages carry a Content-Security-Policy: the site loads nothing from elsewhere and runs no
  inline script, so an injected <script> or event handler does not run. A template that must
  inline a script (the Swagger UI's, which holds per-request values) marks it with
  `nonce="{{ request.csp_nonce }}"`; the policy names the nonce only on responses that used it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.response import Response

from core import views
from core.exceptions import (
    API_PREFIXES,
    BACKEND_UNAVAILABLE,
    api_error_response,
    log_backend_unavailable,
)


class ApiErrorsMiddleware:
    # What Django renders as a page of its own on these statuses: technical pages with DEBUG on,
    # its default 400 page with it off. DRF renders its own (the browsable API's included).
    REWRITTEN = {
        400: ("malformed_request", "The request was refused as malformed; check its headers and body."),
        404: ("not_found", "Nothing at {path}."),
        500: ("server_error", "Something went wrong on our side; it has been logged."),
    }

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (response.status_code in self.REWRITTEN and request.path.startswith(API_PREFIXES)
                and not isinstance(response, Response)
                and not response.get("Content-Type", "").startswith("application/json")):
            code, message = self.REWRITTEN[response.status_code]
            return api_error_response(request, response.status_code, code, message.format(path=request.path))
        return response


class BackendUnavailableMiddleware:
    """A page or non-DRF view that meets Redis restarting or unreachable answers 503 with
    Retry-After (an error page saying to retry), not Django's 500. DRF views get the same from
    core.exceptions.exception_handler."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, BACKEND_UNAVAILABLE):
            return None
        log_backend_unavailable(exception)
        return views.service_unavailable(request)


class _Nonce:
    """Made on first use, so a policy names a nonce only when a template put one on the page."""

    def __init__(self) -> None:
        self.value = ""

    def __str__(self) -> str:
        if not self.value:
            self.value = secrets.token_urlsafe(18)
        return self.value


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = request.csp_nonce = _Nonce()
        response = self.get_response(request)
        if "Content-Security-Policy" in response or not response.get("Content-Type", "").startswith("text/html"):
            return response
        if settings.DEBUG and response.status_code in (404, 500):
            return response  # Django's technical pages style themselves inline; DEBUG only
        directives = {name: list(sources) for name, sources in settings.CONTENT_SECURITY_POLICY.items()}
        if nonce.value:
            for name in ("script-src", "style-src"):
                directives.setdefault(name, list(directives.get("default-src", []))).append(f"'nonce-{nonce.value}'")
        response["Content-Security-Policy"] = "; ".join(" ".join([name, *sources]) for name, sources in directives.items())
        return response
