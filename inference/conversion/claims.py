"""Stage transitions of a ModelVersion, each one a conditional UPDATE.

`status` is the stage in progress (or about to be); `claim_token` says who holds it ("" = free).
- claim: free stage -> ours (`received` becomes `scanning`), attempts = 1;
- a held stage whose `claimed_at` heartbeat is older than the lease belonged to a dead worker:
  the redelivered task takes it over (attempts + 1) and redoes the stage from its start;
- complete / fail only succeed while we still hold the token, so a worker that lost its claim
  can never overwrite the result of the one that took over.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from marketplace.models import ModelVersion

S = ModelVersion.Status
STAGES = [S.SCANNING, S.CONVERTING, S.VALIDATING, S.OPTIMIZING, S.BENCHMARKING]
ACTIVE = [S.RECEIVED, *STAGES]
# pipeline_state kept only while stages run; the UPDATE that makes a version ready drops it, so
# nobody ever sees a ready version that still points at an intermediate artifact.
INTERMEDIATE_STATE = ("converted_bundle",)


@dataclass(frozen=True)
class Claim:
    version_id: int
    stage: str
    token: str
    attempt: int


class StageBusy(Exception):
    """Another live worker holds the stage; try again after `wait` seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"stage held by a live worker; retry in {wait:.0f}s")
        self.wait = wait


def lease() -> timedelta:
    return timedelta(seconds=settings.MODELBAY_PIPELINE_LEASE_SECONDS)


def _stage_patch(stages: dict, stage: str, **changes: Any) -> dict:
    stages = {k: dict(v) for k, v in (stages or {}).items()}
    entry = stages.setdefault(stage, {"state": "pending", "started_at": None, "finished_at": None,
                                      "duration": None, "detail": {}})  # fmt: skip
    entry.update(changes)
    return stages


def _finished(stages: dict, stage: str, state: str, now: datetime, detail: dict) -> dict:
    started = (stages.get(stage) or {}).get("started_at")
    duration = round((now - datetime.fromisoformat(started)).total_seconds(), 2) if started else None
    return _stage_patch(stages, stage, state=state, finished_at=now.isoformat(), duration=duration,
                        detail=detail)  # fmt: skip


def claim_next(*, version_id: int) -> Claim | None:
    """Claim the version's current stage; None when there is nothing left to do."""
    for _ in range(5):  # lost races re-read; more than a handful means something else is wrong
        version = ModelVersion.objects.filter(pk=version_id).first()
        if version is None or version.status not in ACTIVE:
            return None
        now, token = timezone.now(), uuid.uuid4().hex
        stage = S.SCANNING if version.status == S.RECEIVED else version.status
        running = _stage_patch(version.stages, stage, state="running", started_at=now.isoformat(),
                               finished_at=None, duration=None)  # fmt: skip
        if not version.claim_token:
            won = ModelVersion.objects.filter(pk=version.pk, status=version.status, claim_token="").update(
                status=stage, claim_token=token, claimed_at=now, attempts=1, stages=running, updated_at=now
            )
            if won:
                return Claim(version.pk, stage, token, 1)
            continue
        held_since = version.claimed_at or version.updated_at
        if now - held_since < lease():
            raise StageBusy((held_since + lease() - now).total_seconds() + 0.5)
        # The holder stopped heartbeating: its worker died mid-stage. Count this delivery.
        if version.attempts >= settings.CELERY_MAX_DELIVERIES:
            fail_abandoned(version=version, reason=(
                f"the conversion worker stopped {version.attempts} times during {stage}, usually "
                "because the model exhausts its memory or crashes the runtime"))
            return None
        running[stage]["detail"] = {"restarted_after_lost_worker": version.attempts}
        won = ModelVersion.objects.filter(pk=version.pk, status=stage, claim_token=version.claim_token).update(
            claim_token=token, claimed_at=now, attempts=F("attempts") + 1, stages=running, updated_at=now
        )
        if won:
            return Claim(version.pk, stage, token, version.attempts + 1)
    return None


def heartbeat(claim: Claim) -> bool:
    """Keeps the claim alive; False when it was lost (taken over or the version deleted)."""
    return bool(ModelVersion.objects.filter(pk=claim.version_id, claim_token=claim.token).update(
        claimed_at=timezone.now()))


def complete(claim: Claim, *, detail: dict, fields: dict, skipped: bool = False,
             state: dict | None = None) -> bool:  # fmt: skip
    """Record the stage's results and move to the next stage (or `ready`) in one UPDATE."""
    version = ModelVersion.objects.filter(pk=claim.version_id, claim_token=claim.token).first()
    if version is None:
        return False
    now = timezone.now()
    following = STAGES.index(claim.stage) + 1
    next_status = STAGES[following] if following < len(STAGES) else S.READY
    stages = _finished(version.stages, claim.stage, "skipped" if skipped else "done", now, detail)
    stages[claim.stage]["attempt"] = claim.attempt  # > 1: redone after a worker was lost
    extra: dict[str, Any] = {"pipeline_state": {**version.pipeline_state, **(state or {})}}
    if next_status == S.READY:
        extra["ready_at"] = now
        extra["pipeline_state"] = {k: v for k, v in extra["pipeline_state"].items() if k not in INTERMEDIATE_STATE}
    return bool(ModelVersion.objects.filter(pk=claim.version_id, status=claim.stage, claim_token=claim.token).update(
        status=next_status, claim_token="", claimed_at=None, attempts=0, stages=stages, updated_at=now,
        **fields, **extra,
    ))


def fail(claim: Claim, *, code: str, reason: str, hint: str, details: dict | None = None) -> bool:
    version = ModelVersion.objects.filter(pk=claim.version_id, claim_token=claim.token).first()
    if version is None:
        return False
    now = timezone.now()
    stages = _finished(version.stages, claim.stage, "failed", now, {"code": code, "reason": reason})
    return bool(ModelVersion.objects.filter(pk=claim.version_id, status=claim.stage, claim_token=claim.token).update(
        status=S.FAILED, claim_token="", claimed_at=None, stages=stages, updated_at=now,
        failure={"stage": claim.stage, "code": code, "reason": reason, "hint": hint, "details": details or {}},
    ))


def fail_abandoned(*, version: ModelVersion, reason: str) -> bool:
    """Fail a version whose holder is gone (conditional on the stale token it still shows)."""
    stage = S.SCANNING if version.status == S.RECEIVED else version.status
    now = timezone.now()
    stages = _finished(version.stages, stage, "failed", now, {"code": "worker_lost", "reason": reason})
    return bool(ModelVersion.objects.filter(
        pk=version.pk, status=version.status, claim_token=version.claim_token
    ).update(
        status=S.FAILED, claim_token="", claimed_at=None, stages=stages, updated_at=now,
        failure={"stage": stage, "code": "worker_lost", "reason": reason,
                 "hint": "Try a smaller model, or contact support with this version's id."},
    ))  # fmt: skip
