"""The one error hierarchy. Services raise these; core.exceptions turns them into
`{"error": {"code", "message", "details"}}` with the class's HTTP status.

Messages tell the caller what to do next, not only what went wrong.
"""

from typing import Any


class ApplicationError(Exception):
    status_code = 400
    code = "invalid_request"
    default_message = "The request could not be processed."

    def __init__(
        self, message: str | None = None, *, code: str | None = None, details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details or {}
        # Response headers that belong to the error (Retry-After, RateLimit), set by whoever answers.
        self.headers = dict(headers or {})
        if "retry_after_seconds" in self.details:
            self.headers.setdefault("Retry-After", str(int(self.details["retry_after_seconds"])))
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(ApplicationError):
    status_code = 400
    code = "invalid_input"


class AuthenticationRequired(ApplicationError):
    status_code = 401
    code = "authentication_failed"
    default_message = "Send a valid API key as 'Authorization: Bearer mb_live_...'."


class PaymentRequired(ApplicationError):
    status_code = 402
    code = "payment_required"


class PermissionDenied(ApplicationError):
    status_code = 403
    code = "permission_denied"
    default_message = "You are not allowed to do this."


class LicenseNotAccepted(PermissionDenied):
    code = "license_not_accepted"


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ApplicationError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedModelFormat(ApplicationError):
    status_code = 422
    code = "unsupported_model_format"


class QuotaExceeded(ApplicationError):
    status_code = 429
    code = "quota_exceeded"


class RateLimited(ApplicationError):
    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(ApplicationError):
    status_code = 503
    code = "service_unavailable"
    default_message = "The service is temporarily unavailable; retry shortly."
