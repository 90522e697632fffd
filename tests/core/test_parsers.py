"""JSON request bodies: nesting past API_JSON_MAX_DEPTH and bodies past Django's buffer cap are
client mistakes (400 / 413 naming the limit), never a 500, on every JSON API endpoint."""

import json

import pytest

from core.errors import InvalidInput
from core.parsers import json_depth_exceeds, json_loads


@pytest.mark.django_db
def test_json_nested_a_hundred_thousand_deep_is_a_400_on_the_json_api(buyer):
    payload = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = buyer.client.generic("POST", "/api/v1/keys", payload, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "malformed_request"
    assert "nested more than 100 levels" in error["message"]


@pytest.mark.django_db
def test_a_json_body_over_djangos_buffer_cap_is_a_413_naming_it(buyer, settings):
    payload = json.dumps({"name": "k", "padding": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE}).encode()
    response = buyer.client.generic("POST", "/api/v1/keys", payload, content_type="application/json")
    assert response.status_code == 413, response.content[:300]
    assert response.json()["error"]["details"] == {"limit_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}


@pytest.mark.django_db
def test_nesting_within_the_cap_still_reaches_the_view(buyer):
    # A normal body goes through the capped parser to the view's own validation.
    response = buyer.client.post("/api/v1/keys", {"name": [[["x"]]]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


def test_the_depth_cap_is_exact():
    assert json_loads("[" * 5 + "]" * 5, max_depth=5) == [[[[[]]]]]
    with pytest.raises(InvalidInput, match="nested more than 4 levels"):
        json_loads("[" * 5 + "]" * 5, max_depth=4)
    assert json_loads('{"a": [{"b": [1]}], "c": {}}', max_depth=4)["a"][0]["b"] == [1]


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"a": "[[[[{{{{", "b": 'say \\"[[[[\\" twice', "c": ["]]]]", "[[[["]})
    assert not json_depth_exceeds(text, 2)
    assert json_loads(text, max_depth=2)["c"] == ["]]]]", "[[[["]


def test_the_depth_scan_spans_its_chunks():
    deep = "[" * 3_000_000 + "]" * 3_000_000  # wider than one scan step
    assert json_depth_exceeds(deep, 2_999_999)
    assert not json_depth_exceeds(deep, 3_000_000)


def test_malformed_bodies_say_what_is_wrong():
    with pytest.raises(InvalidInput, match="not valid JSON"):
        json_loads(b'{"a": ')
    with pytest.raises(InvalidInput, match="not UTF-8"):
        json_loads(b'{"a": "\xff"}')
    with pytest.raises(InvalidInput, match="not valid JSON"):
        json_loads("[NaN]", strict=True)
    assert json_loads("[NaN]")[0] != 0  # inference inputs may carry NaN, as on /v2
