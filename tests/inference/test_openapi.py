"""The buyer's calls (/v2 and /v1, plain Django views) are in /api/schema/ and on /api/docs/
(inference/openapi, issue #16 item 2)."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from django.core.management import call_command
from django.urls import URLPattern

from inference import urls as inference_urls
from inference.serving.v1.params import CHAT_ONLY, COMMON, COMPLETION_ONLY

pytestmark = pytest.mark.django_db

TAG_ORDER = ["Inference (v2)", "Language models (v1)", "Predictions", "Catalog", "Keys", "Billing", "Vendor"]
RECEIPT = {"X-Modelbay-Request-Id", "X-Modelbay-Units", "X-Modelbay-Cost", "X-Modelbay-Quota-Remaining",
           "RateLimit", "RateLimit-Policy"}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    from django.test import Client

    with django_db_blocker.unblock():
        return Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def _openapi_path(pattern: URLPattern) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))


def test_the_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/v2/models/{name}/infer:" in (tmp_path / "schema.yaml").read_text()


def test_the_schema_lists_every_v2_and_v1_route(schema):
    routes = [_openapi_path(p) for p in inference_urls.urlpatterns if str(p.pattern).startswith(("v2", "v1/"))]
    assert len(routes) == 15
    assert [r for r in routes if r not in schema["paths"]] == []
    assert set(schema["paths"]["/v2/models/{name}/versions/{version}/infer"]) == {"post"}
    assert set(schema["paths"]["/v1/chat/completions"]) == {"post"}


def test_the_tags_put_the_buyers_calls_first_and_every_operation_has_one_of_them(schema):
    names = [tag["name"] for tag in schema["tags"]]
    assert names[:len(TAG_ORDER)] == TAG_ORDER
    untagged = [f"{method} {path}" for path, item in schema["paths"].items() for method, op in item.items()
                if op["tags"] not in ([name] for name in names)]
    assert untagged == []


def _json_schema(node):
    """OpenAPI 3.0's schema dialect as JSON Schema draft 4: `nullable` becomes a "null" type."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _json_schema(v) for k, v in node.items()}
    if node.pop("nullable", False) and "type" in node:
        node["type"] = [node["type"], "null"]
    return node


def _validate(instance, media: dict, schema: dict) -> None:
    root = {"allOf": [media["schema"]], "components": {"schemas": schema["components"]["schemas"]}}
    jsonschema.Draft4Validator(_json_schema(root)).validate(instance)


@pytest.mark.parametrize(("path", "response"), [
    ("/v2/models/{name}/infer", "InferResponse"), ("/v1/chat/completions", "ChatCompletion"),
    ("/v1/completions", "TextCompletion"),
])
def test_the_inference_calls_have_examples_that_match_their_schemas(schema, path, response):
    operation = schema["paths"][path]["post"]
    request = operation["requestBody"]["content"]["application/json"]
    assert request["examples"]
    for example in request["examples"].values():
        _validate(example["value"], request, schema)
    ok = operation["responses"]["200"]
    _validate(ok["content"]["application/json"]["example"], ok["content"]["application/json"], schema)
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith(response)
    assert RECEIPT <= set(ok["headers"])
    assert {"400", "401", "403", "404", "409", "413", "429", "503"} <= set(operation["responses"])
    for status, answer in operation["responses"].items():
        if status != "200":
            _validate(answer["content"]["application/json"]["example"], answer["content"]["application/json"],
                      schema)
    assert operation["security"] == [{"ApiKey": []}]


def test_v2_errors_have_the_protocols_body_and_v1_errors_openais(schema):
    v2 = schema["paths"]["/v2/models/{name}/infer"]["post"]["responses"]["429"]
    v1 = schema["paths"]["/v1/chat/completions"]["post"]["responses"]["429"]
    assert set(v2["content"]["application/json"]["example"]) == {"error"}
    assert isinstance(v2["content"]["application/json"]["example"]["error"], str)
    assert set(v1["content"]["application/json"]["example"]["error"]) == {"message", "type", "param", "code"}
    assert "Retry-After" in v2["headers"] and "Retry-After" in v1["headers"]


def test_the_documented_v1_parameters_are_the_ones_the_api_accepts(schema):
    schemas = schema["components"]["schemas"]
    assert set(schemas["ChatCompletionRequest"]["properties"]) == COMMON | CHAT_ONLY
    assert set(schemas["CompletionRequest"]["properties"]) == COMMON | COMPLETION_ONLY


def test_health_and_server_metadata_need_no_key_and_the_rest_of_v2_does(schema):
    for path, item in schema["paths"].items():
        if path.startswith("/v2"):
            public = path in ("/v2", "/v2/health/live", "/v2/health/ready")
            assert (item["get" if "get" in item else "post"]["security"] == []) is public, path


def test_the_docs_page_has_the_site_header_and_a_quickstart_whose_call_is_the_schemas_example(client, schema):
    response = client.get("/api/docs/")
    html = response.content.decode()
    assert 'class="site-header"' in html and 'href="/catalog/"' in html
    assert "Quickstart" in html and 'href="/accounts/keys/"' in html
    assert "curl -i http://testserver/v2/models/acme-ai.tiny-mlp/infer" in html
    for header in RECEIPT:
        assert f"{header}: " in html
    sent = json.loads(re.search(r"-d '([^']+)'", html).group(1))
    example = schema["paths"]["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]["application/json"]
    assert sent == {k: v for k, v in example["examples"]["tiny-mlp"]["value"].items() if k != "id"}
    assert 'id="swagger-ui"' in html
