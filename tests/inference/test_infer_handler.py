"""The infer route's lean WSGI handler (config/wsgi.py, issue #14) answers exactly as the full
site does: same status, body and security headers, refusals before anything is billed. No worker
runs: every case here is refused before the enqueue step."""

import io
import json
from wsgiref.util import setup_testing_defaults

import numpy as np
import pytest

from billing.models import UsageEvent
from tests.inference.serving import body, oip_client, post_infer, subscribe

NAME = "vendor-co.tiny"
SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Length")


def wsgi_post(path: str, payload: bytes, authorization: str) -> tuple[int, dict[str, str], bytes]:
    """One POST through config.wsgi.application, the entry point gunicorn serves. Like Django's
    test client, it keeps the request signals from closing the test's database connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from config.wsgi import application

    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(payload)), "wsgi.input": io.BytesIO(payload),
               "HTTP_AUTHORIZATION": authorization}
    setup_testing_defaults(environ)
    started = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=int(status.split()[0]), headers=dict(headers))

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = application(environ, start_response)
        content = b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return started["status"], started["headers"], content


@pytest.fixture
def entitled(buyer, tiny):
    subscribe(buyer, tiny)
    return buyer


def test_infer_calls_take_the_lean_handler_and_everything_else_the_site():
    from config.wsgi import infer_handler, is_infer_call, site

    assert is_infer_call({"REQUEST_METHOD": "POST", "PATH_INFO": f"/v2/models/{NAME}/infer"})
    assert is_infer_call({"REQUEST_METHOD": "POST", "PATH_INFO": f"/v2/models/{NAME}/versions/1.0.0/infer"})
    assert not is_infer_call({"REQUEST_METHOD": "GET", "PATH_INFO": f"/v2/models/{NAME}/infer"})
    assert not is_infer_call({"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/predictions"})
    assert infer_handler is not site


def test_a_refused_input_reads_the_same_through_the_lean_handler(entitled):
    payload = body(np.zeros((1, 5)).tolist())
    status, headers, content = wsgi_post(f"/v2/models/{NAME}/infer", payload, f"Bearer {entitled.secret}")
    full = post_infer(oip_client(entitled), NAME, payload)
    assert status == full.status_code == 400
    assert json.loads(content) == full.json()
    assert "input 'x' has shape [1, 5]" in json.loads(content)["error"]
    for header in SECURITY_HEADERS:
        assert headers.get(header) == full.get(header), header
    assert UsageEvent.objects.count() == 0


def test_a_missing_key_is_401_with_the_challenge(tiny):
    status, headers, content = wsgi_post(f"/v2/models/{NAME}/infer", body([[1, 2, 3, 4]]), "")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert "error" in json.loads(content)
