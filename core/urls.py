from django.urls import path

from core.apis import WorkerPingApi

urlpatterns = [
    path("ops/workers/ping", WorkerPingApi.as_view(), name="ops-worker-ping"),
]
