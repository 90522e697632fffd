"""GET /api/v1/account/export and POST /api/v1/account/erase."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import privacy
from accounts.tenancy import client_ip, tenant_for


class EraseIn(serializers.Serializer):
    confirm = serializers.CharField(help_text="the organization's slug, to confirm")


class ExportApi(APIView):
    @extend_schema(responses={(200, "application/json"): OpenApiTypes.OBJECT,
                              (200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request) -> HttpResponse:
        tenant = tenant_for(request)
        tenant.require_manager()
        data = privacy.organization_export(organization=tenant.organization, actor=request.user,
                                           ip_address=client_ip(request))
        body, content_type = privacy.export_as_file(data)
        response = HttpResponse(body, content_type=content_type)
        name = privacy.export_download_name(organization=tenant.organization, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class EraseApi(APIView):
    @extend_schema(request=EraseIn, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        tenant = tenant_for(request)
        data = EraseIn(data=request.data)
        data.is_valid(raise_exception=True)
        # tenant.membership is None for API keys: erasure needs an owner's logged-in session.
        counts = privacy.organization_erase(organization=tenant.organization, actor_membership=tenant.membership,
                                            confirm=data.validated_data["confirm"], ip_address=client_ip(request))
        return Response({"erased": True, "counts": counts})


class DataPolicyIn(serializers.Serializer):
    data_policy = serializers.ChoiceField(choices=["zero_retention", "short_retention"])
    retention_minutes = serializers.IntegerField(required=False, min_value=1, max_value=privacy.MAX_RETENTION_MINUTES)


def _policy(organization) -> dict:
    return {"data_policy": organization.data_policy, "retention_minutes": organization.retention_minutes,
            "async_result_ttl_seconds": privacy.result_ttl_seconds(organization)}


class DataPolicyApi(APIView):
    """How long async prediction results may be kept: zero retention (sync calls only) or N minutes."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(_policy(tenant_for(request).organization))

    @extend_schema(request=DataPolicyIn, responses={200: OpenApiTypes.OBJECT})
    def put(self, request: Request) -> Response:
        tenant = tenant_for(request)
        tenant.require_manager()
        data = DataPolicyIn(data=request.data)
        data.is_valid(raise_exception=True)
        organization = privacy.organization_data_policy_set(
            organization=tenant.organization, actor=request.user, ip_address=client_ip(request), **data.validated_data
        )
        return Response(_policy(organization))
