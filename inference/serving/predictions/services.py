"""Async predictions: create (through the same gateway steps), read, wait.

A prediction lives only in Redis, under `pred:<id>` with a TTL of the buyer organization's
retention (Organization.retention_minutes), outputs included; nothing about it reaches the
database except its usage event, written exactly once and only if it succeeded (the worker's
side is serving/workers/async_finish.py). Zero-retention organizations cannot use async at all.

An organization may have INFERENCE_ASYNC_INFLIGHT_PER_ORG predictions queued or running; past
that, creating one answers 429 with Retry-After, so one buyer's backlog stays bounded.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import redis
from django.conf import settings
from django.utils import timezone

from accounts.models import ApiKey, Organization
from billing.services.metering import usage_release, usage_reserve
from core.errors import (
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
)
from core.redis import get_redis
from inference.runtime.tensors import TensorError
from inference.serving import dispatch, gateway
from inference.serving.lanes import async_lane, replies
from inference.serving.predictions.webhooks import webhook_url_check

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


def _retention_seconds(organization: Organization) -> int:
    return max(60, int(getattr(organization, "retention_minutes", 60) or 60) * 60)


def prediction_create(*, api_key: ApiKey, model: str, version: str | None, inputs: list[Any],
                      webhook: str | None = None) -> dict[str, Any]:
    organization = api_key.organization
    if getattr(organization, "data_policy", "short_retention") == "zero_retention":
        raise PermissionDenied(
            "Your organization's data policy is zero retention, and async predictions keep results for "
            "a while; call POST /v2/models/{name}/infer synchronously instead.", code="zero_retention")
    if webhook:
        webhook_url_check(webhook)
    admission = gateway.admit(api_key=api_key, name=model, version=version)
    try:
        request = gateway.decode(version=admission.version, body=json.dumps({"inputs": inputs}).encode(),
                                 header_length=None)
    except TensorError as exc:  # the API's error format here, not the OIP one
        error = PayloadTooLarge if exc.status == 413 else InvalidInput
        raise error(exc.message, details={"input": exc.input_name} if exc.input_name else None) from None
    ttl = _retention_seconds(organization)
    prediction_id = "pred_" + uuid.uuid4().hex
    _admit_in_flight(organization=organization, prediction_id=prediction_id, ttl_seconds=ttl)
    units = gateway.units_of(request)
    try:
        reservation = usage_reserve(request_id=prediction_id, organization=organization, api_key=api_key,
                                    model=admission.model, entitlement=admission.entitlement, units=units)
    except BaseException:
        _forget(organization_id=organization.pk, prediction_id=prediction_id)
        raise
    state = {
        "id": prediction_id, "organization_id": organization.pk, "model": model,
        "version": admission.version.version, "status": "queued", "created_at": timezone.now().isoformat(),
        "completed_at": None, "webhook": webhook or None, "outputs": None, "error": None, "usage": None,
    }
    try:
        get_redis().set(replies.prediction_key(prediction_id), json.dumps(state), ex=ttl)
        message = dispatch.message_for(
            request_id=prediction_id, version=admission.version, request=request, reply=None,
            prediction={"id": prediction_id, "model": model, "ttl": ttl, "webhook": webhook or None,
                        "organization_id": organization.pk, "units": units,
                        "reservation": reservation.to_json() if reservation else None},
        )
        dispatch.enqueue(version=admission.version, message=message, organization_id=organization.pk,
                         ttl_seconds=ttl)
    except Exception as exc:
        usage_release(reservation=reservation)
        _forget(organization_id=organization.pk, prediction_id=prediction_id)
        if isinstance(exc, ServiceUnavailable):
            raise
        raise ServiceUnavailable("The prediction could not be queued; retry shortly.") from exc
    return state


def _admit_in_flight(*, organization: Organization, prediction_id: str, ttl_seconds: int) -> None:
    limit = settings.INFERENCE_ASYNC_INFLIGHT_PER_ORG
    try:
        async_lane.admit(organization_id=organization.pk, prediction_id=prediction_id, limit=limit,
                         ttl_seconds=ttl_seconds)
    except async_lane.InFlightLimit:
        raise RateLimited(
            f"Your organization has {limit} async predictions queued or running, its limit; wait for some "
            "to finish (GET /api/v1/predictions/{id} or a webhook), or call the model synchronously.",
            code="too_many_in_flight",
            details={"in_flight_limit": limit, "retry_after_seconds": RETRY_AFTER_SECONDS},
        ) from None
    except redis.RedisError:
        raise ServiceUnavailable("The inference queue is unavailable; retry shortly.") from None


def _forget(*, organization_id: int, prediction_id: str) -> None:
    try:
        get_redis().delete(replies.prediction_key(prediction_id))
        async_lane.done(organization_id=organization_id, prediction_id=prediction_id)
    except redis.RedisError:
        pass  # its in-flight slot lapses with the retention (async_lane.admit); the state was never shown


def prediction_get(*, organization: Organization, prediction_id: str) -> dict[str, Any]:
    raw = get_redis().get(replies.prediction_key(prediction_id))
    state = json.loads(raw) if raw else None
    if state is None or state["organization_id"] != organization.pk:
        raise NotFound("No such prediction: it never existed for your organization, or its retention expired.")
    return state


def prediction_wait(*, organization: Organization, prediction_id: str, seconds: float) -> dict[str, Any]:
    """Block up to `seconds` for the prediction to finish; returns its state either way."""
    if seconds > 0:
        replies.blocking_redis().blpop([replies.prediction_done_key(prediction_id)], timeout=seconds)
    return prediction_get(organization=organization, prediction_id=prediction_id)
