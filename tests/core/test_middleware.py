"""What every response carries whatever DEBUG says: API errors in JSON on the API paths (never
Django's technical pages, which list the site's URLs and show settings and local variables), and
a Content-Security-Policy on HTML pages."""

import re
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("url", ["/api/v1/nothing-here", "/api/nothing", "/v1/chat/nothing", "/v2/nothing/at/all"])
def test_unknown_api_paths_answer_a_json_404_without_listing_urls(client, settings, debug, url):
    settings.DEBUG = debug
    response = client.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    text = response.content.decode()
    assert "URLconf" not in text and "healthz" not in text
    error = response.json()["error"]
    if url.startswith("/v1/"):  # OpenAI's
        assert error == {"message": f"Nothing at {url}.", "type": "invalid_request_error", "param": None,
                         "code": "not_found"}
    else:
        assert error["code"] == "not_found"


def test_unknown_page_paths_still_get_the_html_404(client, settings):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def crash(request):
    tensor = "canary-tensor-4242"  # a local variable, as a request payload would be
    raise RuntimeError(f"failed on {tensor}")


urlpatterns = [path("v2/crash", crash), path("page/crash", crash), path("", include("config.urls"))]


def test_an_unhandled_error_on_an_api_path_is_a_json_500_even_with_debug(settings, caplog):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = True
    response = Client(raise_request_exception=False).get("/v2/crash")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "canary" not in response.content.decode()
    assert any(record.exc_info and record.exc_info[0] is RuntimeError for record in caplog.records), "still logged"


def test_pages_keep_djangos_debug_page_for_developers(settings):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = True
    response = Client(raise_request_exception=False).get("/page/crash")
    assert response.status_code == 500 and response["Content-Type"].startswith("text/html")


def test_a_refused_host_on_an_api_path_is_a_json_400_even_with_debug(client, settings):
    settings.DEBUG = True
    response = client.get("/api/v1/keys", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    assert "ALLOWED_HOSTS" not in response.content.decode()


def test_the_browsable_api_keeps_its_own_error_pages(buyer):
    response = buyer.client.get("/api/v1/keys/999999", HTTP_ACCEPT="text/html")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


# --- Content-Security-Policy -------------------------------------------------------------------

def _policy(response) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (d.split() for d in response["Content-Security-Policy"].split(";"))}


def test_html_pages_carry_a_policy_that_runs_no_inline_script(client):
    policy = _policy(client.get("/"))
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]


def test_json_responses_carry_no_policy(client):
    response = client.get("/v2/health/live")
    assert "Content-Security-Policy" not in response


def test_a_view_that_sets_its_own_policy_keeps_it(settings, rf):
    from core.middleware import ContentSecurityPolicyMiddleware

    def view(request):
        response = HttpResponse("<p>hi</p>")
        response["Content-Security-Policy"] = "default-src 'none'"
        return response

    assert ContentSecurityPolicyMiddleware(view)(rf.get("/"))["Content-Security-Policy"] == "default-src 'none'"


def test_the_api_docs_inline_script_carries_the_nonce_its_policy_names(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    [nonce] = re.findall(r"'nonce-([^']+)'", " ".join(_policy(response)["script-src"]))
    assert f"'nonce-{nonce}'" in _policy(response)["style-src"]
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline == [f' nonce="{nonce}"'], "one inline script, with this response's nonce"
    assert "<style" not in html
    assert nonce not in client.get("/api/docs/")["Content-Security-Policy"], "a fresh nonce per response"


def test_pages_without_an_inline_script_get_no_nonce(client):
    assert "nonce" not in client.get("/accounts/login/")["Content-Security-Policy"]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
STYLE = re.compile(r"<style\b|\sstyle\s*=", re.I)


def test_templates_have_no_inline_script_handler_or_style():
    problems = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        if template.parent.name == "drf_spectacular":
            continue  # its one inline script carries the nonce (checked above)
        text = template.read_text()
        for pattern in (INLINE_SCRIPT, EVENT_HANDLER, STYLE):
            problems += [f"{template.relative_to(TEMPLATES)}: {m.group(0).strip()}" for m in pattern.finditer(text)]
    # The policy refuses inline scripts, handlers and <style>; it still allows style attributes
    # (style-src-attr), but nothing server-rendered uses one (core/charts draws its swatches as SVG),
    # so templates keep theirs in static/ too.
    assert problems == [], "move these to static/"
