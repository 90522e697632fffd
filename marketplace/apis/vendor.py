"""Vendor API: listings and versions under /api/v1/vendor/. Key scope `vendor:write` or a
session. Everything resolves inside the caller's organization; others' objects are 404."""

import json
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, TemporaryFileUploadHandler
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.tenancy import Tenant, tenant_for
from core.errors import InvalidInput, PayloadTooLarge
from marketplace.selectors.listings import (
    model_version_get,
    model_versions,
    vendor_model_get,
    vendor_models,
)
from marketplace.serializers.vendor import ModelIn, ModelOut, VersionOut, VersionUploadIn
from marketplace.services.listings import model_create, model_update
from marketplace.services.versions import version_delete, version_upload


def _vendor(request: Request) -> Tenant:
    tenant = tenant_for(request)
    tenant.require_scope(ApiKey.Scope.VENDOR_WRITE)
    return tenant


def _too_large() -> PayloadTooLarge:
    cap = settings.MODELBAY_MAX_UPLOAD_BYTES
    return PayloadTooLarge(
        f"The upload is larger than {cap} bytes; export a smaller model or ask us to raise your limit.",
        details={"max_bytes": cap},
    )


class CappedUploadHandler(FileUploadHandler):
    """First in the chain: refuses by Content-Length up front, and counts while streaming
    (a lying or absent Content-Length is caught on the first byte past the cap)."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):  # noqa: N803
        self.seen = 0
        if content_length and content_length > settings.MODELBAY_MAX_UPLOAD_BYTES:
            raise _too_large()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.seen += len(raw_data)
        if self.seen > settings.MODELBAY_MAX_UPLOAD_BYTES:
            raise _too_large()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


class ModelListCreateApi(APIView):
    @extend_schema(responses={200: ModelOut(many=True)})
    def get(self, request: Request) -> Response:
        tenant = _vendor(request)
        return Response(ModelOut(vendor_models(organization=tenant.organization), many=True).data)

    @extend_schema(request=ModelIn, responses={201: ModelOut})
    def post(self, request: Request) -> Response:
        tenant = _vendor(request)
        data = ModelIn(data=request.data)
        data.is_valid(raise_exception=True)
        model = model_create(organization=tenant.organization, **data.validated_data)
        return Response(ModelOut(model).data, status=status.HTTP_201_CREATED)


class ModelDetailApi(APIView):
    @extend_schema(responses={200: ModelOut})
    def get(self, request: Request, slug: str) -> Response:
        tenant = _vendor(request)
        return Response(ModelOut(vendor_model_get(organization=tenant.organization, slug=slug)).data)

    @extend_schema(request=ModelIn(partial=True), responses={200: ModelOut})
    def patch(self, request: Request, slug: str) -> Response:
        tenant = _vendor(request)
        model = vendor_model_get(organization=tenant.organization, slug=slug)
        data = ModelIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(ModelOut(model_update(model=model, **data.validated_data)).data)


class VersionListUploadApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    def initial(self, request: Request, *args, **kwargs) -> None:
        if request.method == "POST":
            # Before anything reads the body: cap first, then stream to a temp file on disk.
            request._request.upload_handlers = [CappedUploadHandler(request._request),
                                                TemporaryFileUploadHandler(request._request)]  # fmt: skip
        super().initial(request, *args, **kwargs)
        length = request.META.get("CONTENT_LENGTH") or "0"
        if request.method == "POST" and length.isdigit() and int(length) > settings.MODELBAY_MAX_UPLOAD_BYTES:
            raise _too_large()

    @extend_schema(responses={200: VersionOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        tenant = _vendor(request)
        model = vendor_model_get(organization=tenant.organization, slug=slug)
        return Response(VersionOut(model_versions(model=model), many=True).data)

    @extend_schema(request={"multipart/form-data": VersionUploadIn}, responses={202: VersionOut})
    def post(self, request: Request, slug: str) -> Response:
        tenant = _vendor(request)
        model = vendor_model_get(organization=tenant.organization, slug=slug)
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput("Send the model as a multipart field named 'file'.")
        version = request.data.get("version") or None
        version = version.strip() if isinstance(version, str) else version
        created = version_upload(
            model=model, upload=Path(upload.temporary_file_path()), filename=upload.name,
            version=version, example_inputs=_example_inputs(request),
        )
        return Response(VersionOut(created).data, status=status.HTTP_202_ACCEPTED)


def _example_inputs(request: Request) -> dict | Path | None:
    as_file = request.FILES.get("example_inputs")
    if as_file is not None:
        return Path(as_file.temporary_file_path())
    raw = request.data.get("example_inputs")
    if not raw:
        return None
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise InvalidInput("example_inputs must be JSON like {\"input\": [[0.1, 0.2]]} or an .npz file.") from exc
    if not isinstance(parsed, dict):
        raise InvalidInput("example_inputs must be a JSON object mapping input names to nested lists.")
    return parsed


class VersionDetailApi(APIView):
    @extend_schema(responses={200: VersionOut})
    def get(self, request: Request, slug: str, version: str) -> Response:
        tenant = _vendor(request)
        model = vendor_model_get(organization=tenant.organization, slug=slug)
        return Response(VersionOut(model_version_get(model=model, version=version)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, version: str) -> Response:
        tenant = _vendor(request)
        model = vendor_model_get(organization=tenant.organization, slug=slug)
        version_delete(version=model_version_get(model=model, version=version))
        return Response(status=status.HTTP_204_NO_CONTENT)
