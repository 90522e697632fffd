"""How an async prediction ends: billed exactly once if and only if it succeeded and its result
reached the buyer, whatever dies when.

A finished run goes through three steps, each safe to repeat:

    1. stage    the outputs go to `pred:<id>:result` (Redis, the prediction's retention)
    2. commit   the UsageEvent (one per request id, idempotent) and the quota settlement
    3. publish  one Lua script: the public state becomes `succeeded` with the outputs, the
                running mark and the staged result go, the organization's in-flight count drops
                — only if the state was not terminal already (so webhooks fire once)

A worker that dies between steps leaves its running mark behind; `quarantine`'s sweep then
calls `finish_by_evidence`, which continues from the evidence: a staged result means the run
succeeded (commit again, idempotently, and publish); no staged result means it did not (publish
`failed` and release the reservation). The ledger is the source of truth: a commit that raised
may still have landed, so a failure path first asks the database. Nothing here logs or stores
the inputs; outputs live only in Redis, for the retention the buyer's organization chose.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from celery import current_app
from django.utils import timezone

from billing.models import UsageEvent
from billing.pricing import format_cost
from billing.services.metering import Reservation, usage_commit, usage_release
from core.redis import get_redis
from inference.runtime.tensors import encode_response, unpack
from inference.serving.lanes import async_lane, replies

log = logging.getLogger(__name__)

_PUBLISH = """
redis.call('HDEL', KEYS[3], ARGV[3])
redis.call('DEL', KEYS[4])
local raw = redis.call('GET', KEYS[1])
if raw then
  local status = cjson.decode(raw)['status']
  if status == 'succeeded' or status == 'failed' then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('LPUSH', KEYS[2], '1')
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[5], ARGV[3])
return 1
"""


def result_key(prediction_id: str) -> str:
    return f"pred:{prediction_id}:result"


def stage(*, info: dict, result: dict) -> None:
    """Step 1: keep the outputs where a recovering sweeper finds them."""
    staged = {"outputs": result["outputs"], "run_ms": result["run_ms"], "v": result.get("v")}
    get_redis().set(result_key(info["id"]), json.dumps(staged), ex=info["ttl"])


def finish(*, version_id: int, info: dict, result: dict) -> None:
    """The worker's own end of a run (status 200: succeeded; anything else: failed)."""
    if result["status"] != 200:
        publish_failure(info=info, error=result.get("error", "failed"))
        return
    stage(info=info, result={**result, "v": version_id})
    settle_success(version_id=version_id, info=info, staged=result)


def settle_success(*, version_id: int, info: dict, staged: dict) -> None:
    """Steps 2 and 3 for a run whose outputs are staged."""
    reservation = Reservation.from_json(info["reservation"]) if info.get("reservation") else None
    event = None
    if reservation is not None:
        try:
            from marketplace.models import ModelVersion

            event = usage_commit(reservation=reservation, version=ModelVersion.objects.get(pk=version_id),
                                 compute_ms=staged["run_ms"])
        except Exception as exc:  # noqa: BLE001 - decided below by what the ledger holds
            log.error("prediction %s: usage commit failed (%s)", info["id"], type(exc).__name__)
            event = UsageEvent.objects.filter(request_id=info["id"]).first()  # raises if the DB is away
            if event is None:
                publish_failure(info=info, error="usage could not be recorded, so the result is withheld; "
                                                 "you were not billed")
                return
    body, _ = encode_response(info.get("model", ""), None, unpack(staged["outputs"]))
    _publish(info=info, patch={
        "status": "succeeded", "outputs": json.loads(body)["outputs"], "usage": {
            "units": info["units"],
            "cost": format_cost(event.amount_minor, event.currency) if event else "0 USD"}})


def publish_failure(*, info: dict, error: str) -> None:
    """Step 3 for a run that did not succeed; the reservation goes back only if this call ended
    the prediction (a second finisher must not release it twice)."""
    if _publish(info=info, patch={"status": "failed", "error": error, "outputs": None}):
        usage_release(reservation=Reservation.from_json(info["reservation"]) if info.get("reservation") else None)


def finish_by_evidence(*, request_id: str, entry: dict) -> str:
    """Finish a prediction whose worker died or lost Redis mid-way; returns what it decided."""
    info = entry["prediction"]
    client = get_redis()
    raw_state = client.get(replies.prediction_key(info["id"]))
    if raw_state and json.loads(raw_state).get("status") in ("succeeded", "failed"):
        client.hdel(async_lane.running_key(), request_id)
        return "already finished"
    raw = client.get(result_key(info["id"]))
    if raw is not None:
        staged = json.loads(raw)
        settle_success(version_id=staged.get("v") or entry["v"], info=info, staged=staged)
        return "succeeded"
    if UsageEvent.objects.filter(request_id=info["id"]).exists():
        # Cannot happen through `finish` (commit follows stage); say so loudly rather than
        # tell the buyer "not billed" against the ledger.
        log.error("prediction %s has a usage event but no staged result; left for staff", info["id"])
        return "inconsistent"
    publish_failure(info=info, error="the inference worker running this prediction stopped before it "
                                     "finished; it was not retried and you were not billed")
    return "failed"


def _publish(*, info: dict, patch: dict[str, Any]) -> bool:
    """Step 3: the terminal state, once. True when this call ended the prediction."""
    client = get_redis()
    key = replies.prediction_key(info["id"])
    raw = client.get(key)
    state = json.loads(raw) if raw else {"id": info["id"], "organization_id": info["organization_id"],
                                        "model": info.get("model"), "webhook": info.get("webhook")}
    state.update(patch, completed_at=timezone.now().isoformat())
    ended = client.register_script(_PUBLISH)(
        keys=[key, replies.prediction_done_key(info["id"]), async_lane.running_key(), result_key(info["id"]),
              async_lane.inflight_key(info["organization_id"])],
        args=[json.dumps(state), info["ttl"], info["id"]],
    )
    if ended and info.get("webhook"):
        try:
            current_app.send_task("inference.webhooks.deliver", queue="default",
                                  args=[info["id"], info["organization_id"], info["webhook"]])
        except Exception as exc:  # noqa: BLE001 - the state is final; the buyer can still poll it
            log.warning("prediction %s: webhook could not be queued (%s)", info["id"], type(exc).__name__)
    return bool(ended)
