import logging

import pytest
from django.urls import path
from rest_framework.test import APIClient
from rest_framework.views import APIView

from core.errors import PaymentRequired, QuotaExceeded, UnsupportedModelFormat


class Boom(APIView):
    permission_classes: list = []
    authentication_classes: list = []

    def get(self, request, kind):
        if kind == "quota":
            raise QuotaExceeded("Monthly quota of 1000 calls used up; upgrade your plan.", details={"limit": 1000})
        if kind == "payment":
            raise PaymentRequired("Spend cap reached.")
        if kind == "format":
            raise UnsupportedModelFormat("Upload an .onnx file.")
        raise RuntimeError("secret-canary-in-exception")


urlpatterns = [path("boom/<str:kind>", Boom.as_view())]


@pytest.fixture
def boom_urls(settings):
    settings.ROOT_URLCONF = __name__


@pytest.mark.parametrize(
    "kind,status,code",
    [("quota", 429, "quota_exceeded"), ("payment", 402, "payment_required"), ("format", 422, "unsupported_model_format")],
)
def test_application_errors_become_the_json_error_body(boom_urls, kind, status, code):
    response = APIClient().get(f"/boom/{kind}")
    assert response.status_code == status
    body = response.json()["error"]
    assert body["code"] == code
    assert body["message"]
    assert isinstance(body["details"], dict)


def test_unknown_exception_is_a_generic_500_and_logged(boom_urls, caplog):
    with caplog.at_level(logging.ERROR, logger="modelbay.errors"):
        response = APIClient().get("/boom/crash")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "canary" not in response.content.decode()
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db
def test_unauthenticated_api_call_gets_401_in_the_error_shape():
    response = APIClient().get("/api/v1/keys")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
