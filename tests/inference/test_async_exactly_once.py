"""Async predictions are billed exactly once, and only when they succeeded, whatever dies when.

A worker takes a prediction (its running mark set in the same Lua script), runs it, and ends it
in three steps (stage the outputs, commit the usage, publish the state). These tests cut that
sequence after any step, as a kill -9 would, with the worker's pid dead, and let the crash
watch's sweep (once, twice, or two sweepers at once) finish it from the evidence. Every piece is
the real one: Redis, the database, the ledger, ONNX Runtime; only the process death is played
by a pid that no longer exists.
"""

from __future__ import annotations

import json
import subprocess
import threading
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing.models import UsageEvent
from billing.services.limits import usage_limit_set
from billing.services.metering import Reservation, usage_commit
from core.redis import get_redis
from inference.serving.lanes import async_lane, replies
from inference.serving.predictions.services import prediction_create, prediction_get
from inference.serving.workers import async_finish, quarantine, tasks
from marketplace.models import ModelVersion
from tests.inference.serving import expected, subscribe

pytestmark = pytest.mark.django_db(transaction=True)
NAME = "vendor-co.tiny"
STEPS = ("taken", "ran", "staged", "committed", "published")


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def take_as(pid: int) -> dict:
    """What an inference worker's async thread does, as the worker with `pid`."""
    taker = async_lane.Taker(get_redis(), ["cpu"])
    taker.pid = pid
    message = taker.take(wait_seconds=0.1)
    assert message is not None, "the prediction was queued"
    return message


def run_until(message: dict, last_step: str, *, fail_run: bool) -> dict:
    """The worker's own steps, in order, stopping after `last_step` as if killed there."""
    info = message["prediction"]
    if last_step == "taken":
        return info
    result = {"status": 500, "code": "runtime_error", "error": "failed; you were not billed"} if fail_run \
        else tasks._result(message)
    if last_step == "ran":
        return info
    if fail_run:  # a failed run has nothing to stage or commit: its only step left is publishing
        if last_step == "published":
            async_finish.publish_failure(info=info, error=result["error"])
        return info
    async_finish.stage(info=info, result={**result, "v": message["v"]})
    if last_step == "staged":
        return info
    usage_commit(reservation=Reservation.from_json(info["reservation"]),
                 version=ModelVersion.objects.get(pk=message["v"]), compute_ms=result["run_ms"])
    if last_step == "committed":
        return info
    async_finish.settle_success(version_id=message["v"], info=info, staged=result)
    return info


def recover(sweepers: int) -> None:
    if sweepers == 1:
        quarantine.sweep()
        return
    threads = [threading.Thread(target=lambda: (quarantine.sweep(), connection.close())) for _ in range(sweepers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(last_step=st.sampled_from(STEPS), fail_run=st.booleans(), sweeps=st.lists(st.integers(1, 2), min_size=1,
                                                                                   max_size=2))
def test_every_cut_ends_billed_exactly_once_iff_succeeded(buyer, tiny, last_step, fail_run, sweeps):
    x = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    state = prediction_create(api_key=buyer.api_key, model=NAME, version=None, inputs=[
        {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": x.ravel().tolist()}])
    message = take_as(dead_pid())
    assert message["rid"] == state["id"]
    run_until(message, last_step, fail_run=fail_run)
    for sweepers in sweeps:
        recover(sweepers)

    final = prediction_get(organization=buyer.organization, prediction_id=state["id"])
    events = list(UsageEvent.objects.filter(request_id=state["id"]))
    client = get_redis()
    assert final["status"] in ("succeeded", "failed")
    if final["status"] == "succeeded":
        assert len(events) == 1, "a succeeded prediction is billed once"
        np.testing.assert_allclose(np.array(final["outputs"][0]["data"]).reshape(1, 2), expected(x), rtol=1e-6)
        assert final["usage"]["cost"] == "0.02 USD" and events[0].amount_minor == Decimal(2)
    else:
        assert events == [], f"a failed prediction is never billed: {final}"
        assert "not billed" in final["error"] or "were not billed" in final["error"]
    succeeded_before = last_step in ("staged", "committed", "published") and not fail_run
    assert (final["status"] == "succeeded") == succeeded_before, "the outcome follows the evidence"
    assert not client.hexists(quarantine.running_key(), state["id"])
    assert not client.exists(async_finish.result_key(state["id"])), "staged outputs do not linger"
    assert client.zcard(async_lane.inflight_key(buyer.organization.pk)) == 0
    month_calls = [k for k in client.keys(f"mb:q:org:{buyer.organization.pk}:*")]
    billed = UsageEvent.objects.filter(organization=buyer.organization).count()
    assert [int(client.get(k)) for k in month_calls] == [billed], "the quota counts billed calls only"


@pytest.fixture
def buyer(buyer, tiny):
    subscribe(buyer, tiny, "payg")  # 2 minor units a call
    usage_limit_set(organization=buyer.organization, monthly_calls=10_000, spend_cap_minor=100_000)
    return buyer


def test_a_prediction_finished_twice_is_published_and_announced_once(buyer, tiny):
    state = prediction_create(api_key=buyer.api_key, model=NAME, version=None, inputs=[
        {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}])
    message = take_as(dead_pid())
    result = tasks._result(message)
    async_finish.finish(version_id=message["v"], info=message["prediction"], result=result)
    async_finish.finish(version_id=message["v"], info=message["prediction"], result=result)
    assert UsageEvent.objects.filter(request_id=state["id"]).count() == 1
    assert get_redis().llen(replies.prediction_done_key(state["id"])) == 1, "waiters are woken once"
    assert json.loads(get_redis().get(replies.prediction_key(state["id"])))["status"] == "succeeded"
