"""drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]): adds the
hand-written /v2 and /v1 path items in front of the DRF routes, and names and orders the tags,
the buyer's calls first."""

from __future__ import annotations

from typing import Any

from inference.openapi import common, v1, v2

# (tag, description, path prefixes of the DRF routes it gathers), in the order the docs show them.
TAGS: list[tuple[str, str, tuple[str, ...]]] = [
    (v2.TAG, "Call a model: the Open Inference Protocol (KServe v2), as tritonclient.http speaks it.",
     ("/api/v1/tokenize",)),
    (v1.TAG, "Call a language model: the OpenAI-compatible API; the `openai` SDK works with base_url <site>/v1.",
     ()),
    ("Predictions", "Asynchronous calls: submit now, fetch the result or receive a signed webhook later.",
     ("/api/v1/predictions",)),
    ("Catalog", "Find models, read and accept their licenses, subscribe to a plan.",
     ("/api/v1/catalog", "/api/v1/entitlements", "/api/v1/acceptances")),
    ("Keys", "Create, list and revoke API keys and their scopes.", ("/api/v1/keys",)),
    ("Billing", "Usage, invoices, checkout and signed usage receipts.", ("/api/v1/billing", "/api/v1/receipts")),
    ("Vendor", "Upload models and versions, set licenses and plans, publish, see earnings.", ("/api/v1/vendor",)),
    ("Organization", "Organizations, members, the audit log and your data.", ("/api/v1/orgs", "/api/v1/account")),
    ("Operations", "Staff only: reconciliation and worker checks.", ("/api/v1/ops",)),
]

DESCRIPTION = """Vendors sell metered inference on their models; buyers call them.

**Authentication.** Every call but health and server metadata sends an organization API key:
`Authorization: Bearer mb_live_…`. Calls to models need the `inference` scope.

**Receipt.** Every successful call answers with its usage receipt in the headers:
`X-Modelbay-Request-Id`, `X-Modelbay-Units`, `X-Modelbay-Cost`, `X-Modelbay-Quota-Remaining`,
and the rate limits as `RateLimit` / `RateLimit-Policy`.

**Errors.** `/v2` answers `{"error": "…"}` (the Open Inference Protocol's body), `/v1` answers OpenAI's
`{"error": {"message", "type", "param", "code"}}`, and `/api/v1` answers
`{"error": {"code", "message", "details"}}`. A 429 or 503 carries `Retry-After`; refused calls are never billed.
"""


def _tag_for(path: str) -> str | None:
    for tag, _, prefixes in TAGS:
        if path.startswith(prefixes):
            return tag
    return None


def postprocess(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    for path, item in result["paths"].items():
        tag = _tag_for(path)
        for operation in item.values():
            if tag and isinstance(operation, dict) and "tags" in operation:
                operation["tags"] = [tag]
    result["paths"] = {**v2.PATHS, **v1.PATHS, **result["paths"]}
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update({**v2.SCHEMAS, **v1.SCHEMAS})
    components.setdefault("headers", {}).update(common.HEADERS)
    result["tags"] = [{"name": tag, "description": description} for tag, description, _ in TAGS]
    result["info"]["description"] = DESCRIPTION
    return result
