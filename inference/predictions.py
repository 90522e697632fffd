"""Async predictions: create (through the same gateway steps), finish (in the worker), read.

A prediction lives only in Redis, under `pred:<id>` with a TTL of the buyer organization's
retention (Organization.retention_minutes), outputs included; nothing about it reaches the
database except its usage event. Zero-retention organizations cannot use async at all.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.utils import timezone

from accounts.models import ApiKey, Organization
from billing.pricing import format_cost
from billing.services.metering import Reservation, usage_commit, usage_release, usage_reserve
from core.errors import (
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ServiceUnavailable,
)
from core.redis import get_redis
from inference import gateway
from inference.runtime.tensors import TensorError, encode_response, unpack
from inference.serving import dispatch, replies
from inference.webhooks import json_body, webhook_url_check

log = logging.getLogger(__name__)


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
    units = gateway.units_of(request)
    prediction_id = "pred_" + uuid.uuid4().hex
    reservation = usage_reserve(request_id=prediction_id, organization=organization, api_key=api_key,
                                model=admission.model, entitlement=admission.entitlement, units=units)
    ttl = _retention_seconds(organization)
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
        dispatch.enqueue(version=admission.version, message=message)
    except Exception as exc:
        usage_release(reservation=reservation)
        if isinstance(exc, ServiceUnavailable):
            raise
        raise ServiceUnavailable("The prediction could not be queued; retry shortly.") from exc
    return state


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


def prediction_finish(*, message: dict, result: dict) -> None:
    """In the worker: record usage (success) or release it (failure), store, notify."""
    from marketplace.models import ModelVersion

    info = message["prediction"]
    reservation = Reservation.from_json(info["reservation"]) if info.get("reservation") else None
    patch: dict[str, Any] = {"completed_at": timezone.now().isoformat()}
    if result["status"] == 200:
        try:
            event = None
            if reservation is not None:
                version = ModelVersion.objects.get(pk=message["v"])
                event = usage_commit(reservation=reservation, version=version, compute_ms=result["run_ms"])
            body, _ = encode_response(info.get("model", ""), None, unpack(result["outputs"]))
            patch.update(status="succeeded", outputs=json.loads(body)["outputs"], usage={
                "units": info["units"],
                "cost": format_cost(event.amount_minor, event.currency) if event else "0 USD",
            })
        except Exception as exc:  # noqa: BLE001 - the buyer sees a failure, unbilled
            log.error("prediction %s could not be recorded: %s", info["id"], type(exc).__name__)
            usage_release(reservation=reservation)
            patch.update(status="failed", error="usage could not be recorded; you were not billed")
    else:
        usage_release(reservation=reservation)
        patch.update(status="failed", error=result.get("error", "failed"))
    key = replies.prediction_key(info["id"])
    client = get_redis()
    raw = client.get(key)
    state = {**(json.loads(raw) if raw else {"id": info["id"], "organization_id": info["organization_id"]}), **patch}
    pipe = client.pipeline(transaction=False)
    pipe.set(key, json.dumps(state), ex=info["ttl"])
    pipe.lpush(replies.prediction_done_key(info["id"]), "1")
    pipe.expire(replies.prediction_done_key(info["id"]), info["ttl"])
    pipe.execute()
    if info.get("webhook"):
        from inference.webhooks import deliver

        deliver.apply_async(args=[info["id"], info["organization_id"], info["webhook"]], queue="default")


def prediction_webhook_body(*, prediction_id: str) -> bytes:
    raw = get_redis().get(replies.prediction_key(prediction_id))
    if raw is None:
        return json_body({"id": prediction_id, "status": "expired"})
    state = json.loads(raw)
    state.pop("organization_id", None)
    state.pop("webhook", None)
    return json_body(state)
