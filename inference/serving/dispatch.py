"""The hop from the gateway to an inference worker and back.

The message is JSON (ids, signature, the inputs packed as base64, where to reply), never a
pickle. Sync calls go on the hardware class's lane (lane.py), async predictions are Celery tasks
on the `infer.<hardware class>` queue; a sync reply comes back on a per-request Redis list
(replies.py).
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from core.errors import ApplicationError, ServiceUnavailable
from inference.runtime.tensors import InferRequest, pack
from inference.serving import lane
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


def enqueue(*, version: ModelVersion, message: dict) -> None:
    """An async prediction: a Celery task on infer.<hardware class>."""
    from inference.serving.tasks import infer

    try:
        # argsrepr: Celery would otherwise put a repr of the arguments (the buyer's tensors) in the
        # message headers, where task events and monitoring tools show it; it also costs ~0.25 ms.
        infer.apply_async(args=[message], queue=f"infer.{version.hardware_class}", retry=False,
                          argsrepr=f"(request {message['rid']})", kwargsrepr="{}")
    except Exception as exc:  # noqa: BLE001 - kombu raises several types when the broker is down
        raise ServiceUnavailable("The inference queue is unavailable; retry shortly.") from exc
