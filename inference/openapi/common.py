"""Pieces the /v2 and /v1 documents share: the key, the receipt headers and the error answers."""

from __future__ import annotations

from typing import Any

KEY = [{"ApiKey": []}]  # the bearer scheme accounts/schema.py declares for the DRF API
REQUEST_ID = "01JF7Q8M2W6ZB7K3V4N5P6R8ST"


def _header(description: str, example: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}, "example": example}


HEADERS = {
    "X-Modelbay-Request-Id": _header(
        "The call's id: the usage event, the invoice line and support requests name it.", REQUEST_ID),
    "X-Modelbay-Units": _header(
        "The units billed: on /v2 the tensor elements sent (a [1, 4] input is 4; for a text model, its tokens), "
        "on /v1 prompt plus completion tokens.", "4", {"type": "integer"}),
    "X-Modelbay-Cost": _header(
        "The price of this call in major units and the ISO currency; 0 for the model's owner and on a "
        "free plan.", "0.02 EUR"),
    "X-Modelbay-Quota-Remaining": _header(
        "Calls left on a plan with a quota, or `unlimited`.", "unlimited"),
    "RateLimit": _header(
        "Calls left in the current one-second window, per key and per organization "
        "(draft-ietf-httpapi-ratelimit-headers).", '"key";r=499;t=1, "org";r=999;t=1'),
    "RateLimit-Policy": _header(
        "The limits: calls per one-second window, per key and per organization.",
        '"key";q=500;w=1, "org";q=1000;w=1'),
    "Server-Timing": _header(
        "Where the time went, in milliseconds (queue, run, total).", "queue;dur=0.412, run;dur=1.230, total;dur=3.018"),
    "Inference-Header-Content-Length": _header(
        "Binary answer only (Triton extension): the length of the JSON header before the raw output bytes.", "160",
        {"type": "integer"}),
    "Retry-After": _header("Seconds to wait before retrying.", "1", {"type": "integer"}),
    "WWW-Authenticate": _header("How to authenticate.", 'Bearer realm="modelbay"'),
}
RECEIPT = ["X-Modelbay-Request-Id", "X-Modelbay-Units", "X-Modelbay-Cost", "X-Modelbay-Quota-Remaining",
           "RateLimit", "RateLimit-Policy", "Server-Timing"]


def headers(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


# What each refusal means, the same on /v2 and /v1; the bodies differ by protocol.
ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("The request is malformed or does not match the model's signature.",
          "input 'x' is FP32 [1, 3]; expected FP32 [-1, 4]", "invalid_input"),
    401: ("No API key, or one that is unknown, revoked or expired.",
          "Send a valid API key as 'Authorization: Bearer mb_live_...'.", "authentication_failed"),
    402: ("A payment failed and its grace period is over.",
          "A payment for your organization failed; update the card under Billing to call models again.",
          "payment_required"),
    403: ("The key lacks the `inference` scope, or your organization has not subscribed to the model.",
          "Your organization has not accepted the license of acme-ai.tiny-mlp. Read the license, then POST to "
          "the subscribe URL with a plan id, your declared use and territory.", "license_not_accepted"),
    404: ("No such model or version that you may call (private models read as missing).",
          "There is no model 'acme-ai.nope' you can call; names look like vendor-slug.model-slug.", "not_found"),
    409: ("The model has no ready version yet, or the version asked for is not ready.",
          "acme-ai.tiny-mlp has no ready version yet.", "version_not_ready"),
    413: ("The body is over the size limit.",
          "The request body is 70000000 bytes; the limit is 67108864 bytes. Split the batch.", "payload_too_large"),
    429: ("Over the rate limit of the key or the organization, or the plan's quota is used up.",
          "This key is limited to 500 calls a second; slow down.", "rate_limited"),
    503: ("The platform cannot serve the call right now (queue or accounting down); nothing was billed.",
          "The inference queue is unavailable; retry shortly.", "service_unavailable"),
    504: ("The model did not answer in time; nothing was billed.",
          "The model did not answer within 60 seconds; you were not billed.", "inference_timeout"),
}
ERROR_HEADERS = {401: ["WWW-Authenticate"], 429: ["Retry-After", "RateLimit", "RateLimit-Policy"], 503: ["Retry-After"]}


def error_responses(statuses: list[int], body: Any, schema: str) -> dict[str, Any]:
    """`body(status, message, code)` -> the protocol's error body for each status."""
    responses = {}
    for status in statuses:
        description, message, code = ERRORS[status]
        responses[str(status)] = {
            "description": description,
            "headers": headers(*ERROR_HEADERS.get(status, [])),
            "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{schema}"},
                "example": body(status, message, code),
            }},
        }
    return responses
