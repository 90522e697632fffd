"""Signed webhooks for async predictions.

Every delivery is a `POST` of a JSON body with the header

    Modelbay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

The secret is per organization (`GET /api/v1/predictions/webhook-secret`). To verify: split
the header, recompute the HMAC over the timestamp, a dot and the raw body bytes, compare in
constant time, and refuse timestamps older than a few minutes (replays). `verify_signature`
below does exactly that. A delivery that does not get a 2xx within the timeout is retried
with exponential backoff (INFERENCE_WEBHOOK_BACKOFF_SECONDS x 2^n, INFERENCE_WEBHOOK_MAX_RETRIES
times); the body carries the prediction id so receivers can de-duplicate.

A delivery follows no redirect (a 3xx is a failed delivery, retried like any other) and connects
to the very address it checked: the host name is resolved once, every answer must be public (or
inside INFERENCE_WEBHOOK_ALLOWED_NETWORKS), and the connection goes to that address by number with
the URL's Host header and, for https, the URL's host name for SNI and certificate checks. Letting
urllib resolve again or follow a Location would reach whatever the receiver's DNS or redirect
names next, internal services included (SSRF).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from celery import shared_task
from django.conf import settings

from core.errors import InvalidInput
from core.redis import get_redis
from inference.serving.lanes import replies

log = logging.getLogger(__name__)
HEADER = "Modelbay-Signature"


def webhook_secret(*, organization_id: int) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"modelbay-webhook:{organization_id}".encode(), hashlib.sha256)
    return "whsec_" + digest.hexdigest()


def sign(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(*, secret: str, header: str, body: bytes, tolerance_seconds: int = 300) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - t) > tolerance_seconds:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class _Target:
    """A checked webhook URL: where to connect, and what to tell the server it was asked for."""

    scheme: str
    hostname: str  # as in the URL; the TLS server name
    port: int
    host_header: str
    path: str
    addresses: tuple[tuple[int, tuple], ...]  # (family, socket address), each one checked


def _parts(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [IPv6 address
        raise InvalidInput("The webhook URL is malformed; use one such as https://example.com/hooks/modelbay.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("The webhook must be an http(s) URL such as https://example.com/hooks/modelbay.")
    try:
        port = parts.port  # raises ValueError when not a number or past 65535
    except ValueError:
        port = 0
    if port == 0:
        raise InvalidInput("The webhook URL's port must be a number from 1 to 65535.")
    return parts


def _allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped:  # ::ffff:10.0.0.1 is 10.0.0.1
        ip = ip.ipv4_mapped
    return ip.is_global or any(ip in ipaddress.ip_network(n) for n in settings.INFERENCE_WEBHOOK_ALLOWED_NETWORKS)


def _target(url: str) -> _Target:
    """Resolve the URL's host once and check every answer; the delivery connects to these only."""
    parts = _parts(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise InvalidInput(f"The webhook host {parts.hostname} does not resolve.") from None
    addresses = tuple((family, sockaddr) for family, _, _, _, sockaddr in infos)
    if not settings.INFERENCE_WEBHOOK_ALLOW_PRIVATE and not all(_allowed(a[1][0]) for a in addresses):
        raise InvalidInput("The webhook host resolves to a private or loopback address; use a public URL.")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return _Target(
        scheme=parts.scheme, hostname=parts.hostname, port=port,
        host_header=host if parts.port is None else f"{host}:{parts.port}",
        path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""), addresses=addresses,
    )


def webhook_url_check(url: str) -> str:
    """Refuse URLs that are not http(s) or that point into private networks (SSRF)."""
    if settings.INFERENCE_WEBHOOK_ALLOW_PRIVATE:
        _parts(url)
    else:
        _target(url)
    return url


class _PinnedConnection(http.client.HTTPConnection):
    """http.client, but connecting to the checked addresses instead of resolving the name again."""

    def __init__(self, target: _Target, timeout: float) -> None:
        super().__init__(target.hostname, target.port, timeout=timeout)
        self.target = target

    def connect(self) -> None:
        error: OSError = OSError(f"no address for {self.target.hostname}")
        for family, sockaddr in self.target.addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            if self.target.scheme == "https":
                # The URL's name, not the address: SNI and the certificate check still apply.
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.target.hostname)
            self.sock = sock
            return
        raise error


def webhook_post(*, url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST once, following no redirect; returns the HTTP status."""
    target = _target(url)
    connection = _PinnedConnection(target, timeout=settings.INFERENCE_WEBHOOK_TIMEOUT_SECONDS)
    try:
        connection.request("POST", target.path, body=body, headers={**headers, "Host": target.host_header})
        return connection.getresponse().status
    finally:
        connection.close()


@shared_task(bind=True, name="inference.webhooks.deliver", acks_late=True, ignore_result=True,
             max_retries=None)
def deliver(self, prediction_id: str, organization_id: int, url: str) -> None:
    body = prediction_webhook_body(prediction_id=prediction_id)
    try:
        status: int | str = webhook_post(url=url, body=body, headers={
            "Content-Type": "application/json", "User-Agent": "Modelbay-Webhooks/1",
            HEADER: sign(secret=webhook_secret(organization_id=organization_id), body=body),
        })
    except (OSError, http.client.HTTPException, InvalidInput) as exc:
        status = type(exc).__name__
    if isinstance(status, int) and 200 <= status < 300:
        return
    retries = self.request.retries
    if retries >= settings.INFERENCE_WEBHOOK_MAX_RETRIES:
        log.warning("webhook for %s gave up after %s attempts (last: %s)", prediction_id, retries + 1, status)
        return
    log.info("webhook for %s got %s; retrying", prediction_id, status)
    raise self.retry(countdown=settings.INFERENCE_WEBHOOK_BACKOFF_SECONDS * 2**retries)


def prediction_webhook_body(*, prediction_id: str) -> bytes:
    """The prediction's public state as it is now (its outputs included), or "expired"."""
    raw = get_redis().get(replies.prediction_key(prediction_id))
    if raw is None:
        return json_body({"id": prediction_id, "status": "expired"})
    state = json.loads(raw)
    state.pop("organization_id", None)
    state.pop("webhook", None)
    return json_body(state)


def json_body(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
