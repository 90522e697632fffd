"""`/api/v1/predictions`: async inference. The standard API error format applies here (not the
OIP one): `{"error": {"code", "message", "details"}}`.

`Prefer: wait=N` on create holds the request up to N seconds (capped by
INFERENCE_PREDICTION_MAX_WAIT_SECONDS) and returns the finished prediction if it finished.

The create body carries tensors, so it is read here under the same caps as the synchronous
`/v2/.../infer` (INFERENCE_MAX_BODY_BYTES, then the gateway's per-tensor element cap), not through
DRF's `request.data`: that buffers through Django's DATA_UPLOAD_MAX_MEMORY_SIZE, a form limit
(2.5 MB) far below the inference one.
"""

from __future__ import annotations

import re

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.tenancy import tenant_for
from core.errors import InvalidInput, PayloadTooLarge, PermissionDenied
from core.parsers import json_loads
from inference.serving.predictions.services import (
    prediction_create,
    prediction_get,
    prediction_wait,
)
from inference.serving.predictions.webhooks import webhook_secret

_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait=(\d+)")


def _api_key(request: Request) -> ApiKey:
    tenant = tenant_for(request)
    tenant.require_scope(ApiKey.Scope.INFERENCE)
    if tenant.api_key is None:
        raise PermissionDenied("Call predictions with an API key: 'Authorization: Bearer mb_live_...'.",
                               code="api_key_required")
    return tenant.api_key


class PredictionCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        model = serializers.CharField(max_length=120)
        version = serializers.CharField(max_length=40, required=False, allow_blank=True)
        inputs = serializers.ListField(child=serializers.DictField(), min_length=1)
        webhook = serializers.URLField(required=False, allow_blank=True, max_length=500)

    @extend_schema(
        request=InputSerializer, responses={201: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter("Prefer", str, OpenApiParameter.HEADER, required=False,
                                     description="wait=N holds the request up to N seconds for the result")],
    )
    def post(self, request: Request) -> Response:
        api_key = _api_key(request)
        data = self.InputSerializer(data=_json_body(request))
        data.is_valid(raise_exception=True)
        state = prediction_create(
            api_key=api_key, model=data.validated_data["model"], version=data.validated_data.get("version") or None,
            inputs=data.validated_data["inputs"], webhook=data.validated_data.get("webhook") or None,
        )
        headers = {"Location": f"/api/v1/predictions/{state['id']}"}
        match = _PREFER_WAIT.search(request.headers.get("Prefer", ""))
        if match:
            seconds = min(int(match.group(1)), settings.INFERENCE_PREDICTION_MAX_WAIT_SECONDS)
            state = prediction_wait(organization=api_key.organization, prediction_id=state["id"], seconds=seconds)
            headers["Preference-Applied"] = f"wait={seconds}"
        return Response(_public(state), status=status.HTTP_201_CREATED, headers=headers)


class PredictionDetailApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, prediction_id: str) -> Response:
        api_key = _api_key(request)
        return Response(_public(prediction_get(organization=api_key.organization, prediction_id=prediction_id)))


class WebhookSecretApi(APIView):
    """The secret that signs your prediction webhooks (see inference/serving/predictions/webhooks.py for the scheme)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        api_key = _api_key(request)
        return Response({"secret": webhook_secret(organization_id=api_key.organization_id),
                         "header": "Modelbay-Signature", "scheme": "t=<unix>,v1=hex(HMAC-SHA256(secret, t + '.' + body))"})


def _json_body(request: Request) -> dict:
    limit = settings.INFERENCE_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:  # refused before reading a byte of it, as the synchronous path does
        raise PayloadTooLarge(f"The request body is {length} bytes; the limit is {limit} bytes. "
                              "Split the inputs over several predictions.", details={"limit_bytes": limit})
    body = request.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"The request body is over {limit} bytes, the limit. "
                              "Split the inputs over several predictions.", details={"limit_bytes": limit})
    document = json_loads(body)
    if not isinstance(document, dict):
        raise InvalidInput('The request body must be a JSON object: {"model": ..., "inputs": [...]}.')
    return document


def _public(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "organization_id"}
