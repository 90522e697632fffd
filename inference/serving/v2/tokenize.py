"""POST /api/v1/tokenize: text -> the token tensors a model's version expects, using the
tokenizer.json the vendor shipped. Free (nothing is billed) and nothing is stored or logged:
the text is a buyer payload like any other."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.tenancy import tenant_for
from core.errors import Conflict, InvalidInput
from inference.runtime import tokenizer
from inference.serving.gateway import resolve
from marketplace.artifacts import artifact_read


class TokenizeIn(serializers.Serializer):
    model = serializers.CharField(max_length=120, help_text="vendor-slug.model-slug")
    version = serializers.CharField(max_length=40, required=False, allow_blank=True)
    text = serializers.CharField(max_length=tokenizer.MAX_TEXT_CHARS, trim_whitespace=False)


class TokenizeApi(APIView):
    @extend_schema(request=TokenizeIn, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        tenant = tenant_for(request)
        tenant.require_scope(ApiKey.Scope.INFERENCE)
        data = TokenizeIn(data=request.data)
        data.is_valid(raise_exception=True)
        model, version = resolve(organization=tenant.organization, name=data.validated_data["model"],
                                 version=data.validated_data.get("version") or None)
        if not version.tokenizer_artifact:
            raise Conflict(f"Version {version.version} of {model.full_name} has no tokenizer; send token ids.",
                           code="no_tokenizer")
        wanted = [spec["name"] for spec in version.signature.get("inputs", [])]
        tokenizer_json = artifact_read(organization=model.organization, name=version.tokenizer_artifact).decode()
        try:
            tensors = tokenizer.encode(tokenizer_json, data.validated_data["text"], wanted=wanted)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        return Response({
            "model": model.full_name, "model_version": version.version,
            "inputs": [{"name": name, "datatype": "INT64", "shape": list(array.shape), "data": array.ravel().tolist()}
                       for name, array in tensors.items()],
        })
