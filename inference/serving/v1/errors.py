"""OpenAI's error body on the /v1 routes, so the official SDK raises its own exception types
(BadRequestError, AuthenticationError, PermissionDeniedError, NotFoundError, RateLimitError ...):

    {"error": {"message": "...", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}

Every ApplicationError of the platform maps onto it by status; the message stays ours (it says what
to do next) and the platform's error code becomes `code`.
"""

from __future__ import annotations

from django.http import JsonResponse

from core.errors import ApplicationError

TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 402: "insufficient_quota",
    403: "permission_error", 404: "invalid_request_error", 409: "invalid_request_error",
    413: "invalid_request_error", 429: "rate_limit_error", 503: "service_unavailable", 504: "timeout",
}


class OpenAIError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = dict(headers or {})
        super().__init__(message)

    @classmethod
    def from_application(cls, exc: ApplicationError) -> OpenAIError:
        return cls(exc.status_code, exc.message, code=exc.code, headers=exc.headers)

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": TYPES.get(self.status, "api_error"),
                          "param": self.param, "code": self.code}}

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body(), status=self.status)
        if self.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="modelbay"'
        for header, value in self.headers.items():
            response[header] = value
        return response
