"""Staff: the last reconciliation runs, and running one now."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.apis.serializers import ReconcileIn, ReconciliationRunOut
from billing.selectors.earnings import reconciliation_runs
from billing.services.reconciliation import reconciliation_run
from billing.stripe_client import stripe_enabled
from core.errors import PermissionDenied


def _staff_only(request: Request) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only Modelbay staff can see reconciliation runs.")


class ReconciliationApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        _staff_only(request)
        return Response({"stripe_configured": stripe_enabled(),
                         "runs": ReconciliationRunOut(reconciliation_runs(), many=True).data})

    @extend_schema(request=ReconcileIn, responses={201: ReconciliationRunOut})
    def post(self, request: Request) -> Response:
        _staff_only(request)
        data = ReconcileIn(data=request.data)
        data.is_valid(raise_exception=True)
        run = reconciliation_run(hours=data.validated_data.get("hours"))
        return Response(ReconciliationRunOut(run).data, status=201)
