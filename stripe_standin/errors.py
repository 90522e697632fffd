"""Stripe-shaped API errors.

Handlers raise `StripeError`; the server turns it into
`{"error": {"type", "message", "code"?, "param"?}}` with the HTTP status, which is
what makes the real SDK raise `InvalidRequestError`, `CardError`, `IdempotencyError`...
"""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def no_such(label: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    """Stripe's wording for an unknown id: 404 on retrieve, 400 when referenced as a parameter."""
    return StripeError(
        f"No such {label}: '{object_id}'", status=status, code="resource_missing", param=param
    )


def missing_param(param: str) -> StripeError:
    return StripeError(f"Missing required param: {param}.", code="parameter_missing", param=param)


def invalid(param: str, message: str, code: str = "parameter_invalid") -> StripeError:
    return StripeError(message, code=code, param=param)
