"""HTTP layer: ThreadingHTTPServer, request parsing, routing, faults and idempotency.

`/v1/...` is the Stripe API (form-encoded in, JSON out), `/_standin/...` the JSON test
controls, everything else the hosted pages. The order for an API call is Stripe's:
authenticate -> route -> (injected fault) -> idempotency claim -> execute under the store
lock -> remember the result for the key -> answer (or, for drop_after_commit, hang up).
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
import socket
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import control, pages
from .errors import StripeError
from .forms import as_list, parse_form
from .resources import ROUTES, Req
from .store import expand, new_id

if TYPE_CHECKING:
    from .standin import StripeStandin

log = logging.getLogger("stripe_standin")

COMPILED = [(method, re.compile(pattern), handler) for method, pattern, handler in ROUTES]


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(body, indent=2).encode(),
                    {"Content-Type": "application/json", **(headers or {})})


def route(method: str, path: str) -> tuple[Any, dict[str, str]] | None:
    for route_method, pattern, handler in COMPILED:
        if route_method == method and (m := pattern.fullmatch(path)):
            return handler, m.groupdict()
    return None


def handle_api(app: StripeStandin, method: str, path: str, query: str, body: str,
               headers: dict[str, str]) -> Response:
    """Answer one API call and note it in `app.requests` (what tests use to see client retries)."""
    response = _handle_api(app, method, path, query, body, headers)
    app.requests.append({
        "method": method, "path": path, "idempotency_key": headers.get("idempotency-key"),
        "status": None if response.drop else response.status,
        "replayed": response.headers.get("Idempotent-Replayed") == "true",
    })
    return response


def _bearer(header: str) -> str:
    """Stripe also takes the key as HTTP Basic user (`curl -u sk_test_...:`); normalise to Bearer."""
    if header.startswith("Basic "):
        try:
            user = base64.b64decode(header[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            return ""
        return f"Bearer {user}" if user else ""
    return header


def _handle_api(app: StripeStandin, method: str, path: str, query: str, body: str,
                headers: dict[str, str]) -> Response:
    base = {"Request-Id": new_id("req", 14), "Stripe-Version": headers.get("stripe-version") or app.api_version}
    auth = _bearer(headers.get("authorization", ""))
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        return json_response(401, StripeError(
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').", status=401).body(), base)
    if auth[7:].startswith(("sk_live_", "rk_live_")):
        return json_response(401, StripeError("The Stripe stand-in only accepts test-mode keys.",
                                              status=401, code="api_key_expired").body(), base)
    params = parse_form(query if method in ("GET", "DELETE") and not body else body or query)
    found = route(method, path)
    if found is None:
        return json_response(404, StripeError(
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help "
            "at https://support.stripe.com/.", status=404).body(), base)
    handler, args = found

    rule = app.faults.pick(method, path)
    if rule is not None and rule.mode == "error_500":
        return json_response(500, {"error": {"type": "api_error", "message": "An unknown error occurred "
                                             "(injected by the Stripe stand-in)."}}, base)
    if rule is not None and rule.mode == "error_429":
        return json_response(429, {"error": {"type": "invalid_request_error", "code": "lock_timeout",
                                             "message": "This object cannot be accessed right now because "
                                             "another API request or Stripe process is currently accessing "
                                             "it. (injected)"}},
                             {**base, "Stripe-Should-Retry": "true"})
    if rule is not None and rule.mode == "error_429_rate_limit":
        return json_response(429, {"error": {"type": "invalid_request_error", "code": "rate_limit",
                                             "message": "Request rate limit exceeded. (injected)"}}, base)
    if rule is not None and rule.mode == "timeout":
        app.stopping.wait(rule.delay_seconds)
        return Response(0, drop=True)

    key = headers.get("idempotency-key") if method == "POST" else None
    scope = auth + "|" + headers.get("stripe-account", "") + "|"
    if key:
        fingerprint = json.dumps([method, path, params], sort_keys=True)
        try:
            stored = app.idempotency.begin(scope, key, fingerprint)
        except StripeError as exc:
            return json_response(exc.status, exc.body(), base)
        if stored is not None:
            replay = json_response(stored.status, stored.body,
                                   {**stored.headers, **base, "Idempotent-Replayed": "true"})
            replay.drop = rule is not None and rule.mode == "drop_after_commit"
            return replay

    extra: dict[str, str] = {"Idempotency-Key": key} if key else {}
    with app.store.lock:
        app.local.request = {"id": base["Request-Id"], "idempotency_key": key}
        try:
            result = handler(app, Req(method, path, params, args))
            status, payload = 200, expand(app.store, copy.deepcopy(result), as_list(params.get("expand")))
        except StripeError as exc:
            status, payload = exc.status, exc.body()
            extra.update(exc.headers)
        except Exception:  # a stand-in bug: answer like Stripe's 500, keep the key retryable
            log.error("stand-in handler crashed on %s %s\n%s", method, path, traceback.format_exc())
            if key:
                app.idempotency.release(scope, key)
            return json_response(500, {"error": {"type": "api_error",
                                                 "message": "The Stripe stand-in crashed; see its log."}}, base)
        finally:
            app.local.request = None
    if key:
        app.idempotency.finish(scope, key, status, payload, extra)
    app.store.save()
    response = json_response(status, payload, {**extra, **base})
    response.drop = rule is not None and rule.mode == "drop_after_commit"
    return response


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stripe-standin/1.0"
    app: StripeStandin

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if url.path.startswith("/v1/"):
            response = handle_api(self.app, method, url.path, url.query, body, headers)
        elif url.path.startswith("/_standin/"):
            response = json_response(*control.handle(self.app, method, url.path, body))
        else:
            page = pages.handle(self.app, method, url.path, body)
            status, text = page if page else (404, "not found")
            response = Response(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})
        if response.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


def make_server(app: StripeStandin, host: str, port: int) -> Server:
    handler = type("BoundHandler", (Handler,), {"app": app})
    return Server((host, port), handler)
