"""The buyer gateway: every inference call takes these steps, in this order.

    authenticate key (scope `inference`)  -> 401 / 403
    resolve model and version             -> 404 for what the caller may not see
    entitlement                           -> 403 with how to subscribe (owner: free, unbilled)
    rate limit per key                    -> 429 (read with the entitlement's generation: one round trip)
    decode + validate against signature   -> 400 / 413 naming the input; nothing reserved
    reserve quota and spend cap           -> 429 / 402; 503 when accounting is down
    send on the hardware class's lane, wait for the worker
    record usage (one transaction)        -> only after a successful run
    respond with the receipt              -> X-Modelbay-Units / -Cost / -Quota-Remaining / -Request-Id
                                             (the UsageEvent's request_id), Server-Timing

Failures on the platform's side (worker error, timeout, Redis or database down) release the
reservation and record nothing. Payloads are never logged: only ids, sizes and times.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import redis
from django.conf import settings
from rest_framework import exceptions as drf

from accounts.authentication import api_key_lookup, key_from_header
from accounts.models import ApiKey, Organization
from billing.selectors.accounts import require_good_standing
from billing.services.metering import Reservation, usage_commit, usage_release, usage_reserve
from core.errors import (
    AuthenticationRequired,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
)
from core.redis import get_redis
from inference.runtime.signature import validate_against_signature
from inference.runtime.tensors import InferRequest, TensorError, decode_request, unpack
from inference.serving.dispatch import GatewayTimeout, UpstreamFailed, call, message_for
from inference.serving.lanes import replies
from marketplace.models import Entitlement, Model, ModelVersion
from marketplace.selectors.entitlements import (
    entitlement_for,
    entitlement_generation_key,
    require_entitlement,
)

log = logging.getLogger(__name__)


@dataclass
class RateWindow:
    """Calls counted in the current one-second window, for the IETF RateLimit headers
    (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy: "key";q=500;w=1` and
    `RateLimit: "key";r=499;t=1`), per key and per organization."""

    key_calls: int
    org_calls: int

    def headers(self) -> dict[str, str]:
        key_limit = settings.INFERENCE_RATE_LIMIT_PER_SECOND
        org_limit = settings.INFERENCE_ORG_RATE_LIMIT_PER_SECOND
        return {
            "RateLimit-Policy": f'"key";q={key_limit};w=1, "org";q={org_limit};w=1',
            "RateLimit": (f'"key";r={max(0, key_limit - self.key_calls)};t=1, '
                          f'"org";r={max(0, org_limit - self.org_calls)};t=1'),
        }


@dataclass
class Admission:
    api_key: ApiKey
    organization: Organization
    model: Model
    version: ModelVersion
    entitlement: Entitlement | None
    rate: RateWindow | None = None


@dataclass
class Outcome:
    request: InferRequest
    outputs: dict[str, np.ndarray]
    version: ModelVersion
    units: int
    amount_minor: Decimal
    currency: str
    quota_remaining: int | None
    request_id: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    started: float = 0.0
    rate: RateWindow | None = None

    def receipt_headers(self) -> dict[str, str]:
        from billing.pricing import format_cost

        # `total` is taken here, as late as possible before the response is written.
        total = (time.perf_counter() - self.started) * 1000 if self.started else 0.0
        timing = ", ".join(f"{k};dur={v:.3f}" for k, v in {**self.timings_ms, "total": total}.items())
        return {
            **(self.rate.headers() if self.rate else {}),
            "X-Modelbay-Request-Id": self.request_id,
            "X-Modelbay-Units": str(self.units),
            "X-Modelbay-Cost": format_cost(self.amount_minor, self.currency),
            "X-Modelbay-Quota-Remaining": "unlimited" if self.quota_remaining is None else str(self.quota_remaining),
            "Server-Timing": timing,
        }


# ---------------------------------------------------------------- steps 1-4

def authenticate(header: str, *, ip: str | None = None) -> ApiKey:
    """The caller's key (scope `inference`). `ip` lets refused keys be throttled per address."""
    plaintext = key_from_header(header or "")
    if plaintext is None:
        raise AuthenticationRequired()
    try:
        api_key = api_key_lookup(plaintext, ip=ip)
    except drf.AuthenticationFailed as exc:
        raise AuthenticationRequired(str(exc.detail)) from None
    if api_key.created_by is not None and not api_key.created_by.is_active:
        raise AuthenticationRequired("The user who created this key is no longer active.")
    if not api_key.has_scope(ApiKey.Scope.INFERENCE):
        raise PermissionDenied("This API key lacks the 'inference' scope; create a key with it.",
                               code="missing_scope", details={"required_scope": "inference"})
    return api_key


# (organization, name, version) -> [expires, model, version, entitlement generation seen with it]
_resolved: dict[tuple[int, str, str], list] = {}


def resolve(*, organization: Organization, name: str, version: str | None = None) -> tuple[Model, ModelVersion]:
    """The model and version the caller may call; NotFound for anything it may not see."""
    cache_key = (organization.pk, name, version or "")
    hit = _resolved.get(cache_key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1], hit[2]
    model = _visible_model(organization=organization, name=name)
    versions = ModelVersion.objects.filter(model=model)
    if version:
        found = versions.filter(version=version).first()
        if found is None:
            raise NotFound(f"{name} has no version '{version}'; GET /v2/models/{name} lists its versions.")
        if found.status == ModelVersion.Status.QUARANTINED:
            raise ServiceUnavailable(f"Version {version} of {name} is quarantined after runtime crashes; "
                                     "call another version.", code="version_quarantined")
        if found.status != ModelVersion.Status.READY:
            raise Conflict(f"Version {version} of {name} is not ready (status: {found.status}).",
                           code="version_not_ready")
    else:
        found = versions.filter(status=ModelVersion.Status.READY).order_by("-ready_at", "-created_at").first()
        if found is None:
            raise Conflict(f"{name} has no ready version yet.", code="version_not_ready")
    _resolved[cache_key] = [time.monotonic() + settings.INFERENCE_RESOLVE_CACHE_SECONDS, model, found, None]
    return model, found


def _resolved_still_current(*, organization: Organization, name: str, version: str | None, generation: int) -> bool:
    """False when the entitlement generation moved since this process cached the model: a
    moderation suspension (or a cancelled subscription) bumps it, and must bite on the next call,
    not when the cache entry expires."""
    entry = _resolved.get((organization.pk, name, version or ""))
    if entry is None:
        return True
    if entry[3] is None:
        entry[3] = generation
    return entry[3] == generation


def resolve_cache_clear() -> None:
    _resolved.clear()


def _visible_model(*, organization: Organization, name: str) -> Model:
    vendor, _, slug = name.partition(".")
    missing = NotFound(f"There is no model '{name}' you can call; names look like vendor-slug.model-slug.")
    if not vendor or not slug:
        raise missing
    model = Model.objects.select_related("organization").filter(organization__slug=vendor, slug=slug).first()
    if model is None:
        raise missing
    if model.organization_id == organization.pk:
        return model
    if model.status == Model.Status.SUSPENDED:
        raise missing
    listed = model.visibility == Model.Visibility.PUBLIC and model.status == Model.Status.PUBLISHED
    if not listed and entitlement_for(organization=organization, model=model) is None:
        raise missing
    return model


def admit(*, api_key: ApiKey, name: str, version: str | None) -> Admission:
    organization = api_key.organization
    try:  # entitlements are cached in Redis: an outage there is ours, not the buyer's mistake
        model, found = resolve(organization=organization, name=name, version=version)
        generation, rate = _admission_counters(api_key=api_key, organization=organization, model=model)
        if generation is not None and not _resolved_still_current(
                organization=organization, name=name, version=version, generation=generation):
            _resolved.pop((organization.pk, name, version or ""), None)
            model, found = resolve(organization=organization, name=name, version=version)
        entitlement = require_entitlement(organization=organization, model=model, generation=generation)
    except redis.RedisError:
        raise ServiceUnavailable("Entitlement and rate limit checks are unavailable; retry shortly.") from None
    if entitlement is not None:  # billing: 402 once a failed payment is past its grace period
        require_good_standing(organization=organization)
    if rate.key_calls > settings.INFERENCE_RATE_LIMIT_PER_SECOND:
        raise RateLimited(
            f"This key is limited to {settings.INFERENCE_RATE_LIMIT_PER_SECOND} calls a second; slow down.",
            details={"retry_after_seconds": 1, "limit": "key"}, headers=rate.headers(),
        )
    if rate.org_calls > settings.INFERENCE_ORG_RATE_LIMIT_PER_SECOND:
        raise RateLimited(
            f"Your organization is limited to {settings.INFERENCE_ORG_RATE_LIMIT_PER_SECOND} calls a second "
            "across all its keys; slow down.", details={"retry_after_seconds": 1, "limit": "org"},
            headers=rate.headers(),
        )
    return Admission(api_key, organization, model, found, entitlement, rate)


def _admission_counters(*, api_key: ApiKey, organization: Organization, model: Model) -> tuple[int | None, RateWindow]:
    """One round trip: the entitlement generation (None for the owner, who needs none) and the
    calls of this key and of its organization in the current one-second window, this one
    included. Both windows count every call, refused ones too: a client hammering past the
    limit stays limited."""
    pipe = get_redis().pipeline(transaction=False)
    owner = model.organization_id == organization.pk
    if not owner:
        pipe.get(entitlement_generation_key(organization_id=organization.pk, model_id=model.pk))
    second = int(time.time())
    for window_key in (f"rl:{api_key.pk}:{second}", f"rl:org:{organization.pk}:{second}"):
        pipe.incr(window_key)
        pipe.expire(window_key, 2)
    answers = pipe.execute()
    generation = None if owner else int(answers.pop(0) or 0)
    return generation, RateWindow(key_calls=answers[0], org_calls=answers[2])


# ---------------------------------------------------------------- step 5: validation

def decode(*, version: ModelVersion, body: bytes, header_length: int | None) -> InferRequest:
    if (version.signature or {}).get("kind") == "llm":
        raise InvalidInput(f"{version.model.full_name} is a language model: call it through the OpenAI-compatible "
                           "API, POST /v1/chat/completions or /v1/completions.", code="language_model")
    request = decode_request(
        body, header_length, max_body_bytes=settings.INFERENCE_MAX_BODY_BYTES,
        max_elements_per_tensor=settings.INFERENCE_MAX_ELEMENTS_PER_TENSOR,
    )
    validate_against_signature(request.inputs, version.signature)
    request.output_names([o["name"] for o in version.signature.get("outputs", [])])
    return request


def units_of(request: InferRequest) -> int:
    """Billing units: tensor elements sent (tokens, for a text model's ids)."""
    return sum(int(a.size) for a in request.inputs.values())


# ---------------------------------------------------------------- steps 6-9 (dispatch.py, lane.py)

def infer(*, api_key: ApiKey, name: str, version: str | None, body: bytes,
          header_length: int | None, started: float | None = None) -> Outcome:
    """A whole synchronous call after authentication; `started` is when the request arrived."""
    started = started or time.perf_counter()
    marks = [("auth", time.perf_counter())]
    admission = admit(api_key=api_key, name=name, version=version)
    marks.append(("admit", time.perf_counter()))
    request = decode(version=admission.version, body=body, header_length=header_length)
    units = units_of(request)
    marks.append(("decode", time.perf_counter()))
    request_id = uuid.uuid4().hex
    reservation = usage_reserve(
        request_id=request_id, organization=admission.organization, api_key=api_key,
        model=admission.model, entitlement=admission.entitlement, units=units,
    )
    marks.append(("reserve", time.perf_counter()))
    try:
        reply = call(version=admission.version, timeout=settings.INFERENCE_TIMEOUT_SECONDS,
                     message=message_for(request_id=request_id, version=admission.version, request=request,
                                         reply=replies.reply_key(request_id)))
        marks.append(("wait", time.perf_counter()))
        if reply["status"] == 503:  # the worker died under this call (quarantine answered it)
            raise ServiceUnavailable(reply["error"], code=reply.get("code"), details={"retry_after_seconds": 1})
        if reply["status"] == 504:
            raise GatewayTimeout(reply["error"], code=reply.get("code"))
        if reply["status"] >= 500:
            raise UpstreamFailed(reply["error"], code=reply.get("code"))
        if reply["status"] != 200:
            raise TensorError(reply["error"], status=reply["status"])
        outputs = unpack(reply["outputs"])
        event = _commit(reservation=reservation, version=admission.version, compute_ms=reply["run_ms"])
        marks.append(("record", time.perf_counter()))
    except BaseException:
        usage_release(reservation=reservation)
        raise
    run_ms = float(reply["run_ms"])
    spans = {name: (at - marks[i - 1][1]) * 1000 if i else (at - started) * 1000
             for i, (name, at) in enumerate(marks)}
    waited = spans.pop("wait")
    # queue: everything between sending and the reply that is not the model's run (the lane hop,
    # worker pick-up, batching wait, reply); run: the worker's own measurement.
    timings = {**spans, "queue": max(0.0, waited - run_ms), "run": run_ms}
    return Outcome(
        rate=admission.rate,
        request=request, outputs=outputs, version=admission.version, units=units,
        amount_minor=event.amount_minor if event else Decimal(0),
        currency=event.currency if event else "usd",
        quota_remaining=reservation.quota_remaining if reservation else None, request_id=request_id,
        timings_ms=timings, started=started,
    )


def _commit(*, reservation: Reservation | None, version: ModelVersion, compute_ms: float):
    if reservation is None:
        return None
    try:
        return usage_commit(reservation=reservation, version=version, compute_ms=compute_ms)
    except Exception as exc:
        log.error("usage could not be recorded for request %s: %s", reservation.request_id, type(exc).__name__)
        raise ServiceUnavailable("Usage could not be recorded, so the result is withheld and you were not "
                                 "billed; retry shortly.") from exc

