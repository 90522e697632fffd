"""The one DRF exception handler, and JSON 404/500 pages for the API paths.

Unknown exceptions become a generic 500. They are logged with their type and traceback only:
never with the request body, which may hold a buyer's payload.
"""

import logging

import redis
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from kombu.exceptions import OperationalError as BrokerUnavailable
from rest_framework import exceptions as drf
from rest_framework.response import Response

from core.errors import ApplicationError

logger = logging.getLogger("modelbay.errors")

# Redis (counters, caches, the broker) restarting or unreachable: a passing fault, and the service
# that met it rolled its transaction back, so 503 with Retry-After (send it again), not 500.
BACKEND_UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, BrokerUnavailable)
UNAVAILABLE_MESSAGE = "A service Modelbay depends on is restarting or unreachable; retry in a few seconds."
RETRY_AFTER_SECONDS = 5

_DRF_CODES = {
    drf.NotAuthenticated: ("authentication_failed", "Send a valid API key as 'Authorization: Bearer mb_live_...' or log in."),
    drf.AuthenticationFailed: ("authentication_failed", None),
    drf.PermissionDenied: ("permission_denied", None),
    drf.NotFound: ("not_found", None),
    drf.MethodNotAllowed: ("method_not_allowed", None),
    drf.NotAcceptable: ("not_acceptable", None),
    drf.UnsupportedMediaType: ("unsupported_media_type", None),
    drf.Throttled: ("rate_limited", None),
    drf.ParseError: ("malformed_request", None),
    drf.ValidationError: ("invalid_input", "Some fields are invalid; see details."),
}


def _body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc: Exception, context: dict) -> Response:
    if isinstance(exc, ApplicationError):
        return Response(exc.as_dict(), status=exc.status_code, headers=exc.headers or None)
    if isinstance(exc, Http404):
        return Response(_body("not_found", "Not found."), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        return Response(_body("permission_denied", "You are not allowed to do this."), status=403)
    if isinstance(exc, RequestDataTooBig):  # Django's cap on bodies it buffers (DATA_UPLOAD_MAX_MEMORY_SIZE)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(_body("payload_too_large", f"The request body is over {limit} bytes; send less per request.",
                              {"limit_bytes": limit}), status=413)
    if isinstance(exc, SuspiciousOperation):  # Django answers these 400 outside DRF too
        return Response(_body("malformed_request", "The request was refused as malformed; check its headers and body."),
                        status=400)
    if isinstance(exc, drf.APIException):
        code, message = next(
            ((c, m) for cls, (c, m) in _DRF_CODES.items() if isinstance(exc, cls)),
            ("invalid_request", None),
        )
        details = exc.detail if isinstance(exc, drf.ValidationError) else {}
        if isinstance(details, list):
            details = {"non_field_errors": details}
        response = Response(
            _body(code, message or str(exc.detail), details), status=exc.status_code
        )
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))
        if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
            response["WWW-Authenticate"] = 'Bearer realm="modelbay"'
            response.status_code = 401
        return response
    if isinstance(exc, BACKEND_UNAVAILABLE):
        log_backend_unavailable(exc)
        return Response(_body("service_unavailable", UNAVAILABLE_MESSAGE), status=503,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})  # fmt: skip
    view = context.get("view")
    logger.error(
        "unhandled %s in %s", type(exc).__name__, type(view).__name__ if view else "?",
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return Response(_body("server_error", "Something went wrong on our side; it has been logged."), status=500)


# Machine clients live under these prefixes and always get a JSON error body: OpenAI's shape under
# /v1/ (the official SDK reads it), ours elsewhere. The /v2/ endpoints answer the Open Inference
# Protocol's `{"error": "..."}` themselves; a path that is none of them gets ours.
API_PREFIXES = ("/api/", "/v1/", "/v2/")


def api_error_response(request: HttpRequest, status: int, code: str, message: str) -> JsonResponse:
    if request.path.startswith("/v1/"):
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return JsonResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status=status)
    return JsonResponse(_body(code, message), status=status)


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return api_error_response(request, 404, "not_found", f"Nothing at {request.path}.")


def permission_denied_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return api_error_response(request, 403, "permission_denied", "You are not allowed to do this.")


def log_backend_unavailable(exc: Exception) -> None:
    logger.warning("backing service unavailable (%s): answered 503", type(exc).__name__)


def service_unavailable_view(request: HttpRequest) -> HttpResponse:
    response = api_error_response(request, 503, "service_unavailable", UNAVAILABLE_MESSAGE)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error_view(request: HttpRequest) -> HttpResponse:
    return api_error_response(request, 500, "server_error", "Something went wrong on our side; it has been logged.")
