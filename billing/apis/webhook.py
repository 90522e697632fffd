"""POST /api/v1/billing/stripe/webhook: no login; the Stripe signature is the authentication."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.services.webhooks import webhook_receive


class StripeWebhookApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={200: None})
    def post(self, request: Request) -> Response:
        # The raw bytes, exactly as signed: never the parsed body.
        event, created = webhook_receive(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
        return Response({"received": event.id, "duplicate": not created})
