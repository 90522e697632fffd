"""The web side of the generation lane (serving/lanes/gen_lane.py): one admitted call -> one message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from inference.serving.lanes import gen_lane
from inference.serving.lanes.gen_lane import out_key

if TYPE_CHECKING:
    from inference.serving.v1.gateway import Call

__all__ = ["out_key", "send"]


def send(*, call: Call, prompt: list[int]) -> None:
    version = call.version
    sha = version.int4_sha256 if call.variant == "int4" else version.onnx_sha256
    gen_lane.push(hardware_class=version.hardware_class, timeout=settings.LLM_QUEUE_TIMEOUT_SECONDS, message={
        "rid": call.request_id, "v": version.pk, "sha": sha, "variant": call.variant, "ids": prompt,
        "max_tokens": call.max_tokens, "sampling": call.params.sampling(), "stop": call.params.stop,
        "fairness": call.api_key.organization_id, "reply": out_key(call.request_id),
    })
