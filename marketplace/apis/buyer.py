"""Buyer side: subscribe (accept + plan), entitlements, acceptance receipts, downloads."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.tenancy import client_ip, tenant_for
from core.errors import NotFound
from marketplace import receipts
from marketplace.models import Entitlement, LicenseAcceptance
from marketplace.selectors import catalog, entitlements
from marketplace.serializers.catalog import AcceptanceOut, EntitlementOut, SubscribeIn
from marketplace.services.downloads import download_create
from marketplace.services.entitlements import entitlement_set_status, entitlement_subscribe


def _buyer(request: Request, scope: str = ApiKey.Scope.CATALOG_READ):
    """The buyer tenant; a key needs `scope`. Reading is catalog:read; anything that spends money
    (subscribe, cancel) needs catalog:subscribe and taking weights needs models:download."""
    tenant = tenant_for(request)
    tenant.require_scope(scope)
    return tenant


class SubscribeApi(APIView):
    @extend_schema(request=SubscribeIn, responses={201: EntitlementOut})
    def post(self, request: Request, vendor: str, slug: str) -> Response:
        tenant = _buyer(request, ApiKey.Scope.CATALOG_SUBSCRIBE)
        model = catalog.catalog_model_get(vendor=vendor, slug=slug)
        data = SubscribeIn(data=request.data)
        data.is_valid(raise_exception=True)
        entitlement = entitlement_subscribe(
            organization=tenant.organization, user=request.user, model=model, ip_address=client_ip(request),
            plan_id=data.validated_data["plan"], declared_use=data.validated_data["declared_use"],
            territory=data.validated_data["territory"], license_id=data.validated_data["license_id"],
        )
        body = {**EntitlementOut(entitlement).data, "receipt": receipts.receipt_for(entitlement.acceptance)}
        return Response(body, status=status.HTTP_201_CREATED)


class DownloadApi(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, vendor: str, slug: str) -> FileResponse:
        tenant = _buyer(request, ApiKey.Scope.MODELS_DOWNLOAD)
        model = catalog.catalog_model_get(vendor=vendor, slug=slug)
        file = download_create(organization=tenant.organization, user=request.user, model=model,
                               version=request.query_params.get("version") or None, ip_address=client_ip(request))
        # Streamed from the stamped temporary file (sendfile under gunicorn): memory stays flat.
        response = FileResponse(file.file, as_attachment=True, filename=file.filename,
                                content_type="application/octet-stream")
        response["X-Modelbay-Fingerprint"] = file.download.fingerprint_id
        response["X-Content-SHA256"] = file.download.file_sha256
        return response


class EntitlementListApi(ListAPIView):
    serializer_class = EntitlementOut

    def get_queryset(self):
        return entitlements.entitlements_of(organization=_buyer(self.request).organization)


class EntitlementDetailApi(APIView):
    @extend_schema(responses={200: EntitlementOut})
    def get(self, request: Request, entitlement_id: int) -> Response:
        found = entitlements.entitlements_of(organization=_buyer(request).organization).filter(pk=entitlement_id).first()
        if found is None:
            raise NotFound("No such entitlement in this organization.")
        return Response(EntitlementOut(found).data)

    @extend_schema(responses={200: EntitlementOut})
    def delete(self, request: Request, entitlement_id: int) -> Response:
        tenant = _buyer(request, ApiKey.Scope.CATALOG_SUBSCRIBE)
        entitlement = entitlement_set_status(organization=tenant.organization, entitlement_id=entitlement_id,
                                             status=Entitlement.Status.CANCELLED, actor=request.user,
                                             ip_address=client_ip(request))
        return Response(EntitlementOut(entitlement).data)


class AcceptanceListApi(ListAPIView):
    serializer_class = AcceptanceOut

    def get_queryset(self):
        return entitlements.acceptances_of(organization=_buyer(self.request).organization)


def _visible_acceptance(request: Request, acceptance_id: int) -> LicenseAcceptance:
    """Either party to the acceptance, or staff, may read it; anyone else gets 404."""
    tenant = _buyer(request)
    found = LicenseAcceptance.objects.select_related("license__model__organization").filter(pk=acceptance_id).first()
    parties = {found.organization_id, found.license.model.organization_id} if found else set()
    is_staff = request.user.is_staff and not isinstance(request.auth, ApiKey)
    if found is None or not (tenant.organization.pk in parties or is_staff):
        raise NotFound("No such license acceptance.")
    return found


class AcceptanceReceiptApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, acceptance_id: int) -> Response:
        return Response(receipts.receipt_for(_visible_acceptance(request, acceptance_id)))


class ReceiptVerifyApi(APIView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        _buyer(request)
        return Response({"valid": receipts.receipt_verify(request.data.get("receipt", request.data))})
