"""The /v2 example the API docs show works as sent: fetched from /api/schema/ on a live server and
posted to a real model through a real worker (issue #16 item 2)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from billing.models import UsageEvent
from tests.inference.serving import subscribe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _get(url: str, **headers) -> tuple[dict, dict]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as answer:
        return json.load(answer), dict(answer.headers)


def test_the_schemas_infer_example_runs_on_a_live_server_and_its_receipt_is_documented(
        buyer, tiny, infer_worker, live_server):
    subscribe(buyer, tiny, "payg")
    schema, _ = _get(f"{live_server.url}/api/schema/", Accept="application/vnd.oai.openapi+json")
    operation = schema["paths"]["/v2/models/{name}/infer"]["post"]
    example = operation["requestBody"]["content"]["application/json"]["examples"]["tiny-mlp"]["value"]
    documented = operation["responses"]["200"]["content"]["application/json"]["example"]

    request = urllib.request.Request(
        f"{live_server.url}/v2/models/vendor-co.tiny/infer", data=json.dumps(example).encode(), method="POST",
        headers={"Authorization": f"Bearer {buyer.secret}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        body, headers = json.load(answer), answer.headers

    assert body["id"] == example["id"] == documented["id"]
    assert [(o["name"], o["datatype"], o["shape"]) for o in body["outputs"]] == [
        (o["name"], o["datatype"], o["shape"]) for o in documented["outputs"]]
    receipt = {name for name in headers if name.startswith(("X-Modelbay-", "RateLimit"))}
    assert receipt and receipt <= set(operation["responses"]["200"]["headers"])
    assert headers["X-Modelbay-Units"] == schema["components"]["headers"]["X-Modelbay-Units"]["example"] == "4"
    assert UsageEvent.objects.get().request_id == headers["X-Modelbay-Request-Id"]
