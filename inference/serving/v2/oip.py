"""Open Inference Protocol (KServe v2) REST endpoints: plain Django views, the protocol's error
body `{"error": "..."}`, and Triton's binary tensor extension, so `tritonclient.http` and other
v2 clients work unchanged. `Authorization: Bearer <api key>` on everything but health."""

from __future__ import annotations

import time
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.tenancy import client_ip
from core.errors import ApplicationError, PayloadTooLarge
from core.redis import get_redis
from inference.runtime.tensors import TensorError, encode_response
from inference.serving import gateway
from marketplace.models import ModelVersion

PLATFORM = "onnxruntime_onnx"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="modelbay"'
    if status == 429:
        response["Retry-After"] = "1"
    for header, value in (headers or {}).items():
        response[header] = value
    return response


def _protocol_errors(view):
    """ApplicationError and TensorError become the protocol's error body; messages never quote
    tensor values, so they are safe to return and to log."""

    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as exc:
            return _error(exc.status_code, exc.message, exc.headers)
        except TensorError as exc:
            return _error(exc.status, exc.message)
        except redis.RedisError:
            return _error(503, "The service is temporarily unavailable; retry shortly.")

    wrapped.__name__ = view.__name__
    return wrapped


@require_GET
def health_live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"live": True})


@require_GET
def health_ready(request: HttpRequest) -> JsonResponse:
    try:
        get_redis().ping()
    except Exception:  # noqa: BLE001 - any failure means not ready
        return JsonResponse({"ready": False}, status=503)
    return JsonResponse({"ready": True})


@require_GET
@_protocol_errors
def model_metadata(request: HttpRequest, name: str, version: str | None = None) -> JsonResponse:
    api_key = gateway.authenticate(request.headers.get("Authorization", ""), ip=client_ip(request))
    model, found = gateway.resolve(organization=api_key.organization, name=name, version=version)
    ready = ModelVersion.objects.filter(model=model, status=ModelVersion.Status.READY).order_by("-ready_at", "-created_at")
    signature = found.signature or {}
    return JsonResponse({
        "name": name,
        "versions": list(ready.values_list("version", flat=True)),
        "platform": PLATFORM,
        "inputs": [{k: s[k] for k in ("name", "datatype", "shape")} for s in signature.get("inputs", [])],
        "outputs": [{k: s[k] for k in ("name", "datatype", "shape")} for s in signature.get("outputs", [])],
    })


# Triton's names for the v2 datatypes, as its model configuration spells them.
_CONFIG_TYPES = {"BYTES": "TYPE_STRING"}


def _config_tensor(spec: dict, *, batched: bool) -> dict:
    """One input or output as Triton's model configuration states it: with a batch size, the
    dims leave out the batch axis."""
    dims = list(spec["shape"][1:] if batched else spec["shape"])
    return {"name": spec["name"], "data_type": _CONFIG_TYPES.get(spec["datatype"], f"TYPE_{spec['datatype']}"),
            "dims": dims}


@cache
def _server_version() -> str:
    try:
        return package_version("modelbay")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "dev"


@require_GET
def server_metadata(request: HttpRequest) -> JsonResponse:
    """The protocol's server metadata; the extensions are the Triton ones this server speaks."""
    return JsonResponse({"name": "modelbay", "version": _server_version(),
                         "extensions": ["binary_tensor_data", "model_configuration"]})


@require_GET
@_protocol_errors
def model_config(request: HttpRequest, name: str, version: str | None = None) -> JsonResponse:
    """Triton's model configuration (max_batch_size, inputs, outputs, dynamic batching), so tools
    that read it (tritonclient's get_model_config, perf_analyzer) work."""
    api_key = gateway.authenticate(request.headers.get("Authorization", ""), ip=client_ip(request))
    model, found = gateway.resolve(organization=api_key.organization, name=name, version=version)
    signature = found.signature or {}
    if signature.get("kind") == "llm":
        return _error(400, f"{name} is a language model: it has no tensor configuration; call it through "
                           "the OpenAI-compatible API, POST /v1/chat/completions.")
    batched = bool(signature.get("batched", True))  # as the batcher reads it (versions from before the flag)
    config = {
        "name": name, "platform": PLATFORM, "backend": "onnxruntime", "version_policy": {"latest": {"num_versions": 1}},
        "max_batch_size": settings.INFERENCE_MAX_BATCH_SIZE if batched else 0,
        "input": [_config_tensor(s, batched=batched) for s in signature.get("inputs", [])],
        "output": [_config_tensor(s, batched=batched) for s in signature.get("outputs", [])],
    }
    if batched and settings.INFERENCE_BATCHING:
        config["dynamic_batching"] = {"max_queue_delay_microseconds": int(settings.INFERENCE_BATCH_WINDOW_MS * 1000)}
        # Triton's count of instances that run at once: the batches a worker overlaps per version.
        kind = "KIND_GPU" if found.hardware_class == "gpu" else "KIND_CPU"
        config["instance_group"] = [{"kind": kind, "count": settings.INFERENCE_BATCH_RUNS_AT_ONCE}]
    return JsonResponse(config)


@require_GET
@_protocol_errors
def model_ready(request: HttpRequest, name: str, version: str | None = None) -> JsonResponse:
    api_key = gateway.authenticate(request.headers.get("Authorization", ""), ip=client_ip(request))
    try:
        gateway.resolve(organization=api_key.organization, name=name, version=version)
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise
        return JsonResponse({"name": name, "ready": False}, status=503)
    return JsonResponse({"name": name, "ready": True})


@csrf_exempt
@require_POST
@_protocol_errors
def infer(request: HttpRequest, name: str, version: str | None = None) -> HttpResponse:
    started = time.perf_counter()
    api_key = gateway.authenticate(request.headers.get("Authorization", ""), ip=client_ip(request))
    limit = settings.INFERENCE_MAX_BODY_BYTES
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > limit:  # refused before reading a byte of it
        raise PayloadTooLarge(f"The request body is {length} bytes; the limit is {limit} bytes. Split the batch.")
    header_length = request.headers.get("Inference-Header-Content-Length")
    try:
        header_length = int(header_length) if header_length is not None else None
    except ValueError:
        raise TensorError("Inference-Header-Content-Length must be an integer") from None
    body = request.read(limit + 1)
    outcome = gateway.infer(api_key=api_key, name=name, version=version, body=body, header_length=header_length,
                            started=started)
    names = list(outcome.outputs)
    payload, json_length = encode_response(
        name, outcome.version.version, outcome.outputs, request_id=outcome.request.id,
        binary_outputs=outcome.request.binary_outputs(names),
    )
    if json_length is None:
        response = HttpResponse(payload, content_type="application/json")
    else:
        response = HttpResponse(payload, content_type="application/octet-stream")
        response["Inference-Header-Content-Length"] = str(json_length)
    for header, value in outcome.receipt_headers().items():
        response[header] = value
    return response
