"""Buyer billing APIs: invoices with a per-model breakdown, daily usage, payment method setup."""

from datetime import datetime, timedelta

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.tenancy import tenant_for
from billing.apis.serializers import InvoiceOut, UrlsIn
from billing.selectors.invoices import invoice_by_model, invoices_for, usage_by_day
from billing.services.checkout import checkout_setup_link
from core.errors import InvalidInput


class InvoiceListApi(ListAPIView):
    serializer_class = InvoiceOut

    def get_queryset(self):
        tenant = tenant_for(self.request)
        tenant.require_scope(ApiKey.Scope.BILLING_READ)
        return invoices_for(organization=tenant.organization)

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        for invoice in page:
            invoice.by_model = invoice_by_model(invoice=invoice)
        return self.get_paginated_response(InvoiceOut(page, many=True).data)


def _date(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"'{value}' is not a date; use YYYY-MM-DD.") from None


class UsageApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("since", str), OpenApiParameter("until", str)],
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        from django.utils import timezone

        tenant = tenant_for(request)
        tenant.require_scope(ApiKey.Scope.BILLING_READ)
        until = _date(request.query_params.get("until"), timezone.now() + timedelta(days=1))
        since = _date(request.query_params.get("since"), until - timedelta(days=31))
        if timezone.is_naive(since):
            since = timezone.make_aware(since)
        if timezone.is_naive(until):
            until = timezone.make_aware(until)
        return Response({"since": since, "until": until,
                         "days": usage_by_day(organization=tenant.organization, since=since, until=until)})


class CheckoutApi(APIView):
    @extend_schema(request=UrlsIn, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        tenant = tenant_for(request)
        tenant.require_manager()
        data = UrlsIn(data=request.data)
        data.is_valid(raise_exception=True)
        link = checkout_setup_link(organization=tenant.organization,
                                   success_url=data.validated_data.get("return_url", ""),
                                   cancel_url=data.validated_data.get("refresh_url", ""))
        return Response(link, status=201)
