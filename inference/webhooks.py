"""Signed webhooks for async predictions.

Every delivery is a `POST` of a JSON body with the header

    Modelbay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

The secret is per organization (`GET /api/v1/predictions/webhook-secret`). To verify: split
the header, recompute the HMAC over the timestamp, a dot and the raw body bytes, compare in
constant time, and refuse timestamps older than a few minutes (replays). `verify_signature`
below does exactly that. A delivery that does not get a 2xx within the timeout is retried
with exponential backoff (INFERENCE_WEBHOOK_BACKOFF_SECONDS x 2^n, INFERENCE_WEBHOOK_MAX_RETRIES
times); the body carries the prediction id so receivers can de-duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings

from core.errors import InvalidInput

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


def webhook_url_check(url: str) -> str:
    """Refuse URLs that are not http(s) or that point into private networks (SSRF)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("The webhook must be an http(s) URL such as https://example.com/hooks/modelbay.")
    if settings.INFERENCE_WEBHOOK_ALLOW_PRIVATE:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise InvalidInput(f"The webhook host {parts.hostname} does not resolve.") from None
    if any(not ipaddress.ip_address(info[4][0]).is_global for info in infos):
        raise InvalidInput("The webhook host resolves to a private or loopback address; use a public URL.")
    return url


@shared_task(bind=True, name="inference.webhooks.deliver", acks_late=True, ignore_result=True,
             max_retries=None)
def deliver(self, prediction_id: str, organization_id: int, url: str) -> None:
    from inference.predictions import prediction_webhook_body

    body = prediction_webhook_body(prediction_id=prediction_id)
    try:
        webhook_url_check(url)  # again at delivery: DNS may have changed since creation
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "Modelbay-Webhooks/1",
            HEADER: sign(secret=webhook_secret(organization_id=organization_id), body=body),
        })
        with urllib.request.urlopen(request, timeout=settings.INFERENCE_WEBHOOK_TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, InvalidInput) as exc:
        status = type(exc).__name__
    if isinstance(status, int) and 200 <= status < 300:
        return
    retries = self.request.retries
    if retries >= settings.INFERENCE_WEBHOOK_MAX_RETRIES:
        log.warning("webhook for %s gave up after %s attempts (last: %s)", prediction_id, retries + 1, status)
        return
    log.info("webhook for %s got %s; retrying", prediction_id, status)
    raise self.retry(countdown=settings.INFERENCE_WEBHOOK_BACKOFF_SECONDS * 2**retries)


def json_body(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
