from celery.exceptions import TimeoutError as CeleryTimeout
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ServiceUnavailable
from core.tasks import ping


class WorkerPingApi(APIView):
    """Staff only: sends a task to the workers and waits for the answer."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        try:
            answer = ping.apply_async().get(timeout=10)
        except CeleryTimeout as exc:
            raise ServiceUnavailable("No worker answered within 10 seconds; check that a Celery worker runs.") from exc
        return Response({"worker": answer})
