"""A tensor model's page and its playground offer code to copy: tabs for curl, Python and
JavaScript with copy buttons, and the viewer's own key prefix in place of the secret."""

import html
import re

import pytest

from tests.factories import published_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(vendor):
    return published_model(vendor.organization, "tiny")


def snippet(page: str, language: str) -> str:
    return html.unescape(re.search(rf'<code id="snippet-code-{language}">(.*?)</code>', page, re.S)[1])


def test_model_page_has_accessible_tabs_for_curl_python_and_javascript_with_copy_buttons(client, model):
    page = client.get("/catalog/vendor-co/tiny/").content.decode()
    assert re.search(r'role="tablist"[^>]*aria-labelledby="snippets-title"', page)
    tabs = re.findall(r'<button type="button" role="tab" id="snippet-tab-(\w+)" aria-controls="snippet-panel-\1"', page)
    assert tabs == ["curl", "python", "javascript"]
    for language in tabs:
        assert f'role="tabpanel" id="snippet-panel-{language}" aria-labelledby="snippet-tab-{language}"' in page
        assert f'data-copy="#snippet-code-{language}"' in page
    assert "js/tabs.js" in page and "onclick" not in page
    assert "http://testserver/v2/models/vendor-co.tiny/infer" in snippet(page, "curl")
    assert '"shape": [1, 4], "data": [0.5, 0.5, 0.5, 0.5]' in snippet(page, "curl")
    assert 'httpclient.InferInput("x", [1, 4], "FP32")' in snippet(page, "python")
    assert "fetch(\"http://testserver/v2/models/vendor-co.tiny/infer\"" in snippet(page, "javascript")


def test_anonymous_visitors_get_an_environment_variable_for_the_key(client, model):
    page = client.get("/catalog/vendor-co/tiny/").content.decode()
    assert 'Bearer $MODELBAY_API_KEY"' in snippet(page, "curl")
    assert "Set <code>MODELBAY_API_KEY</code>" in page


def test_a_signed_in_buyer_sees_their_key_prefix_and_never_the_secret(client, buyer, model):
    client.force_login(buyer.user)
    page = client.get("/catalog/vendor-co/tiny/").content.decode()
    prefix = buyer.api_key.display_prefix
    assert f"Bearer {prefix}…" in snippet(page, "curl")
    assert f'API_KEY = "{prefix}…"' in snippet(page, "python")
    assert buyer.secret not in page


def test_playground_shows_the_snippets_with_the_lasting_key_and_a_copy_this_request_button(client, buyer, model):
    client.force_login(buyer.user)
    page = client.get("/console/playground/vendor-co/tiny/").content.decode()
    prefix = buyer.api_key.display_prefix
    assert f"Bearer {prefix}…" in snippet(page, "curl")  # not the page's 15-minute key
    assert 'role="tablist"' in page and "js/tabs.js" in page
    assert 'data-copy="#last-request"' in page and "Copy this request" in page
    assert f'data-key-placeholder="{prefix}…"' in page
    assert 'data-request-url="http://testserver/v2/models/vendor-co.tiny/infer"' in page


def test_language_models_get_openai_tabs_not_tensor_ones(client, model):
    model.versions.update(kind="llm")
    page = client.get("/catalog/vendor-co/tiny/").content.decode()
    assert 'data-testid="llm-code-python"' in page and 'role="tablist"' in page
    assert "tensor-code" not in page and "/v2/models/" not in page
