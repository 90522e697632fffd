"""The OpenAI-compatible API under /v1, so the official `openai` SDK works unchanged with
`base_url=<site>/v1` and a Modelbay API key:

    GET  /v1/models, /v1/models/{id}
    POST /v1/chat/completions      messages rendered with the model's own chat template
    POST /v1/completions           a raw prompt

`model` is `{vendor-slug}.{model-slug}`, optionally pinned to a version and a variant:
`acme.llama@1.2.0`, `acme.llama:int4`, `acme.llama@1.2.0:int4`. Errors use OpenAI's body. Plain
Django views: the gateway steps are synchronous (database, Redis); a streamed answer is a
generator the web server writes out chunk by chunk (streaming.py).
"""

from __future__ import annotations

import time
from functools import wraps

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.tenancy import client_ip
from billing.pricing import format_cost
from core.errors import ApplicationError, InvalidInput
from core.parsers import json_loads
from inference.serving import gateway as v2_gateway
from inference.serving.v1 import chunks, gateway, streaming
from inference.serving.v1.errors import OpenAIError
from inference.serving.v1.params import parse
from inference.serving.v1.selectors import language_models


def _openai_errors(view):
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except OpenAIError as exc:
            return exc.response()
        except ApplicationError as exc:
            return OpenAIError.from_application(exc).response()
        except redis.RedisError:
            return OpenAIError(503, "The service is unavailable for a moment; retry shortly.",
                               code="service_unavailable", headers={"Retry-After": "1"}).response()

    return wrapped


def _api_key(request: HttpRequest):
    return v2_gateway.authenticate(request.headers.get("Authorization", ""), ip=client_ip(request))


def _model_object(found) -> dict:
    return {"id": found.id, "object": "model", "created": found.created, "owned_by": found.owned_by,
            "version": found.version, "context_length": found.context_length}


@require_GET
@_openai_errors
def models(request: HttpRequest) -> JsonResponse:
    api_key = _api_key(request)
    found = language_models(organization=api_key.organization)
    return JsonResponse({"object": "list", "data": [_model_object(m) for m in found]})


@require_GET
@_openai_errors
def model_detail(request: HttpRequest, model_id: str) -> JsonResponse:
    api_key = _api_key(request)
    for found in language_models(organization=api_key.organization):
        if found.id == model_id:
            return JsonResponse(_model_object(found))
    raise OpenAIError(404, f"The model '{model_id}' does not exist or you cannot call it; GET /v1/models lists "
                           "yours.", param="model", code="model_not_found")


def _body(request: HttpRequest):
    limit = settings.LLM_MAX_BODY_BYTES
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > limit:
        raise OpenAIError(413, f"The request body is {length} bytes; the limit is {limit}.", code="payload_too_large")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise OpenAIError(413, f"The request body is over {limit} bytes.", code="payload_too_large")
    try:
        return json_loads(raw)
    except InvalidInput as exc:
        raise OpenAIError(400, exc.message, code="invalid_json") from None


def _generate(request: HttpRequest, kind: str) -> HttpResponse:
    api_key = _api_key(request)
    params = parse(_body(request), kind=kind)
    call = gateway.start(api_key=api_key, params=params)
    if params.stream:
        response = StreamingHttpResponse(streaming.sse(call), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # proxies must pass each token on at once
        response["X-Modelbay-Request-Id"] = call.request_id
        for header, value in call.rate_headers.items():
            response[header] = value
        return response
    outcome = streaming.collect(call)
    response = JsonResponse(chunks.completion(call, "".join(outcome.text), outcome.finish_reason, outcome.tokens))
    total_ms = (time.perf_counter() - call.started) * 1000
    receipt = {
        "X-Modelbay-Request-Id": call.request_id,
        "X-Modelbay-Units": str(call.prompt_tokens + outcome.tokens),
        "X-Modelbay-Cost": format_cost(call.amount_minor, call.currency),
        "X-Modelbay-Quota-Remaining": "unlimited" if not call.reservation or call.reservation.quota_remaining is None
        else str(call.reservation.quota_remaining),
        "Server-Timing": f"generate;dur={outcome.compute_ms:.3f}, total;dur={total_ms:.3f}",
        **call.rate_headers,
    }
    for header, value in receipt.items():
        response[header] = value
    return response


@csrf_exempt
@require_POST
@_openai_errors
def chat_completions(request: HttpRequest) -> HttpResponse:
    return _generate(request, "chat")


@csrf_exempt
@require_POST
@_openai_errors
def completions(request: HttpRequest) -> HttpResponse:
    return _generate(request, "completion")
