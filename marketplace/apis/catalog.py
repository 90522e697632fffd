"""Public catalog: anyone may browse published models; nothing private or suspended shows."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.tenancy import Tenant
from core.errors import InvalidInput
from marketplace.selectors import catalog
from marketplace.serializers.catalog import (
    CatalogModelDetailOut,
    CatalogModelOut,
    LicenseOut,
    LicenseSummaryOut,
    PlanOut,
    VersionOut,
)


def _check_key_scope(request: Request) -> None:
    # Anonymous browsing is allowed; a key used here still needs the catalog scope.
    if isinstance(request.auth, ApiKey):
        Tenant(organization=request.auth.organization, membership=None, api_key=request.auth).require_scope(
            ApiKey.Scope.CATALOG_READ)


def _int(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInput(f"'{name}' must be a whole number.") from exc


class CatalogListApi(ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = CatalogModelOut

    def get_queryset(self):
        _check_key_scope(self.request)
        p = self.request.query_params
        commercial = p.get("commercial")
        if commercial not in (None, "", "true", "false"):
            raise InvalidInput("'commercial' is true or false.")
        latency = p.get("latency_max_ms")
        try:
            latency_max = float(latency) if latency else None
        except ValueError as exc:
            raise InvalidInput("'latency_max_ms' must be a number.") from exc
        return catalog.catalog_search(
            q=p.get("q", "")[:100], task=p.get("task", ""), tag=p.get("tag", ""),
            license_kind=p.get("license_kind", ""),
            commercial=None if commercial in (None, "") else commercial == "true",
            price_max=_int(p.get("price_max"), "price_max"), latency_max_ms=latency_max,
            ordering=p.get("ordering", "name"),
        )


class CatalogDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: CatalogModelDetailOut})
    def get(self, request: Request, vendor: str, slug: str) -> Response:
        _check_key_scope(request)
        model = catalog.catalog_model_get(vendor=vendor, slug=slug)
        license = catalog.catalog_license(model=model)
        return Response({
            **CatalogModelDetailOut(model).data,
            "versions": VersionOut(catalog.catalog_versions(model=model), many=True).data,
            "license": LicenseSummaryOut(license).data if license else None,
            "plans": PlanOut(catalog.catalog_plans(model=model), many=True).data,
        })


class CatalogLicenseApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: LicenseOut})
    def get(self, request: Request, vendor: str, slug: str) -> Response:
        _check_key_scope(request)
        model = catalog.catalog_model_get(vendor=vendor, slug=slug)
        license = catalog.catalog_license(model=model)
        return Response(LicenseOut(license).data if license else None)
