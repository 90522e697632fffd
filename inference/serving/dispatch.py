"""The hop from the gateway to an inference worker and back.

The message is JSON (ids, signature, the inputs packed as base64, where to reply), never a
pickle. Sync calls go on the hardware class's lane (lane.py), async predictions on their
organization's queue of the hardware class (async_lane.py); a sync reply comes back on a
per-request Redis list (replies.py).
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from core.errors import ApplicationError, ServiceUnavailable
from inference.runtime.tensors import InferRequest, pack
from inference.serving.lanes import async_lane, lane
from marketplace.models import ModelVersion


class GatewayTimeout(ApplicationError):
    status_code = 504
    code = "inference_timeout"


class UpstreamFailed(ApplicationError):
    status_code = 500
    code = "inference_failed"


def message_for(*, request_id: str, version: ModelVersion, request: InferRequest, reply: str | None,
                prediction: dict | None = None) -> dict[str, Any]:
    outputs = request.output_names([o["name"] for o in version.signature.get("outputs", [])])
    return {
        "rid": request_id, "v": version.pk, "sha": version.onnx_sha256, "sig": version.signature,
        "in": pack(request.inputs), "out": outputs, "reply": reply, "sent": time.time(),
        "max_batch": (version.signature or {}).get("max_batch_size"), "prediction": prediction,
    }


def call(*, version: ModelVersion, message: dict, timeout: float) -> dict[str, Any]:
    """A sync call: onto the version's hardware-class lane, then wait for the worker's reply."""
    try:
        raw = lane.request(hardware_class=version.hardware_class, message=message, timeout=timeout)
    except redis.RedisError:
        raise ServiceUnavailable("Lost the connection to the inference queue; retry shortly.") from None
    if raw is None:
        raise GatewayTimeout(f"The model did not answer within {timeout:g} seconds; you were not billed.")
    return json.loads(raw)


def enqueue(*, version: ModelVersion, message: dict, organization_id: int, ttl_seconds: int) -> None:
    """An async prediction: onto its organization's queue of the hardware class (async_lane)."""
    info = message["prediction"]
    mark = {"v": message["v"], "prediction": info}  # ids and the reservation, never the inputs
    message["deadline"] = time.time() + ttl_seconds
    try:
        async_lane.enqueue(hardware_class=version.hardware_class, organization_id=organization_id,
                           message=message, mark=mark, ttl_seconds=ttl_seconds)
    except redis.RedisError as exc:
        raise ServiceUnavailable("The inference queue is unavailable; retry shortly.") from exc
