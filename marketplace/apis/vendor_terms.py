"""Vendor side of the terms: license revisions, plans, publishing, acceptances received."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.tenancy import client_ip, tenant_for
from marketplace.license_presets import PRESETS
from marketplace.models import License, Model, Plan
from marketplace.selectors.entitlements import acceptances_received
from marketplace.selectors.listings import vendor_model_get
from marketplace.selectors.publishing import publish_checklist
from marketplace.serializers.catalog import (
    AcceptanceOut,
    LicenseIn,
    LicenseOut,
    LicensePresetOut,
    LicenseSavedOut,
    PlanIn,
    PlanOut,
    PlanPatchIn,
    PublishChecklistOut,
)
from marketplace.services import licensing, plans


def _own_model(request: Request, slug: str) -> Model:
    tenant = tenant_for(request)
    tenant.require_scope(ApiKey.Scope.VENDOR_WRITE)
    return vendor_model_get(organization=tenant.organization, slug=slug)


class LicenseApi(APIView):
    @extend_schema(responses={200: LicenseOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        """Every revision, newest first."""
        model = _own_model(request, slug)
        return Response(LicenseOut(License.objects.filter(model=model), many=True).data)

    @extend_schema(request=LicenseIn, responses={201: LicenseSavedOut})
    def post(self, request: Request, slug: str) -> Response:
        """A new revision. Permissions left out take what the SPDX license grants; `warnings` lists
        each one set to something else than the license says (saved all the same)."""
        model = _own_model(request, slug)
        data = LicenseIn(data=request.data)
        data.is_valid(raise_exception=True)
        license = licensing.license_set(model=model, actor=request.user, ip_address=client_ip(request),
                                        **data.validated_data)
        license.warnings = licensing.license_warnings_of(license)
        return Response(LicenseSavedOut(license).data, status=status.HTTP_201_CREATED)


class LicensePresetsApi(APIView):
    @extend_schema(responses={200: LicensePresetOut(many=True)})
    def get(self, request: Request) -> Response:
        """What each listed SPDX license grants: the defaults a license revision takes from its id."""
        tenant_for(request).require_scope(ApiKey.Scope.VENDOR_WRITE)
        return Response(LicensePresetOut([p.as_dict() for p in PRESETS], many=True).data)


class PlanListCreateApi(APIView):
    @extend_schema(responses={200: PlanOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        model = _own_model(request, slug)
        return Response(PlanOut(Plan.objects.filter(model=model), many=True).data)

    @extend_schema(request=PlanIn, responses={201: PlanOut})
    def post(self, request: Request, slug: str) -> Response:
        model = _own_model(request, slug)
        data = PlanIn(data=request.data)
        data.is_valid(raise_exception=True)
        plan = plans.plan_create(model=model, actor=request.user, ip_address=client_ip(request), **data.validated_data)
        return Response(PlanOut(plan).data, status=status.HTTP_201_CREATED)


class PlanDetailApi(APIView):
    @extend_schema(request=PlanPatchIn, responses={200: PlanOut})
    def patch(self, request: Request, slug: str, plan_id: int) -> Response:
        model = _own_model(request, slug)
        data = PlanPatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        plan = plans.plan_update(model=model, plan_id=plan_id, actor=request.user, ip_address=client_ip(request),
                                 **data.validated_data)
        return Response(PlanOut(plan).data)


class PublishApi(APIView):
    @extend_schema(responses={200: PublishChecklistOut})
    def get(self, request: Request, slug: str) -> Response:
        """What publishing still needs: a ready version, a license, an active plan."""
        checklist = publish_checklist(model=_own_model(request, slug))
        return Response(PublishChecklistOut({"ready": all(item.done for item in checklist),
                                             "checklist": checklist}).data)

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, slug: str) -> Response:
        model = plans.model_publish(model=_own_model(request, slug), actor=request.user,
                                    ip_address=client_ip(request))
        return Response({"full_name": model.full_name, "status": model.status, "visibility": model.visibility})


class UnpublishApi(APIView):
    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, slug: str) -> Response:
        model = plans.model_unpublish(model=_own_model(request, slug), actor=request.user,
                                      ip_address=client_ip(request))
        return Response({"full_name": model.full_name, "status": model.status, "visibility": model.visibility})


class AcceptancesReceivedApi(ListAPIView):
    serializer_class = AcceptanceOut

    def get_queryset(self):
        model = _own_model(self.request, self.kwargs["slug"])
        return acceptances_received(organization=model.organization).filter(license__model=model)
