"""The home page, and error pages: HTML for people, the JSON error body for API clients."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader

from core import exceptions


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(exceptions.API_PREFIXES)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "core/home.html")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return exceptions.not_found_view(request, exception)
    return render(request, "404.html", {"path": request.path}, status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return exceptions.permission_denied_view(request, exception)
    return render(request, "403.html", {"exception": str(exception or "")}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return exceptions.server_error_view(request)
    # No request context: whatever broke (database, Redis) must not break the error page too.
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """Redis restarting or unreachable (core.middleware.BackendUnavailableMiddleware)."""
    if _is_api(request):
        return exceptions.service_unavailable_view(request)
    response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(exceptions.RETRY_AFTER_SECONDS)
    return response
