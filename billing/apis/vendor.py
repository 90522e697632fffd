"""Vendor payout APIs: earnings (with their transfers) and the Connect onboarding link."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.tenancy import tenant_for
from billing.apis.serializers import EarningOut, UrlsIn
from billing.selectors.earnings import earnings_for, earnings_totals, payout_account_for
from billing.services.payouts import onboarding_link
from billing.stripe_client import stripe_enabled


class EarningsApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        tenant = tenant_for(request)
        tenant.require_scope(ApiKey.Scope.BILLING_READ)
        vendor = tenant.organization
        account = payout_account_for(vendor=vendor)
        return Response({
            "stripe_configured": stripe_enabled(),
            "payout_account": None if account is None else {
                "id": account.stripe_id, "payouts_enabled": account.payouts_enabled,
                "transfers_active": account.transfers_active, "details_submitted": account.details_submitted},
            "totals": earnings_totals(vendor=vendor),
            "earnings": EarningOut(earnings_for(vendor=vendor)[:200], many=True).data,
        })


class OnboardingApi(APIView):
    @extend_schema(request=UrlsIn, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        tenant = tenant_for(request)
        tenant.require_manager()
        data = UrlsIn(data=request.data)
        data.is_valid(raise_exception=True)
        url = onboarding_link(
            organization=tenant.organization,
            return_url=data.validated_data.get("return_url", f"{settings.SITE_URL}/vendor/payouts"),
            refresh_url=data.validated_data.get("refresh_url", f"{settings.SITE_URL}/vendor/payouts/refresh"))
        return Response({"url": url}, status=201)
