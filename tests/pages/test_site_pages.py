"""Home page and error pages: HTML for people, JSON for API clients."""

import pytest
from django.test import RequestFactory

from core.views import server_error

pytestmark = pytest.mark.django_db


def test_home_page_explains_modelbay_and_links_both_audiences(client):
    html = client.get("/").content.decode()
    assert "Sell inference on your models" in html
    for link in ('href="/catalog/"', 'href="/accounts/signup/"', 'href="/api/docs/"'):
        assert link in html
    assert 'href="/dashboard/"' not in html  # staff only
    assert 'class="skip-link" href="#main"' in html


def test_unknown_page_is_an_html_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "Page not found" in response.content.decode()


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/v2/nothing-here"])
def test_unknown_api_path_stays_a_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_html_500_page_renders_without_a_request_context():
    response = server_error(RequestFactory().get("/vendor/"))
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
    api = server_error(RequestFactory().get("/api/v1/keys"))
    assert api["Content-Type"] == "application/json"
