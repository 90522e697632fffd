"""Celery tasks of the conversion pipeline (queue `convert`, via CELERY_TASK_ROUTES).

`process_version(id)` walks the version through its remaining stages; each stage is claimed
with a conditional UPDATE (see claims.py), so a redelivered or duplicate task does nothing for
stages already done, waits while a live worker holds a stage, and redoes a stage whose worker
died (kill -9) once its heartbeat is older than the lease. `requeue_stuck` (beat, every
minute) re-queues versions that nobody advanced within the deadline, and at once those whose
upload committed while the broker was down.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from core.leases import renewed
from inference.conversion import claims, runners
from inference.conversion.hints import hint_for
from inference.conversion.steps.errors import ModelCheckError
from marketplace.artifacts import artifact_delete
from marketplace.models import ModelVersion
from marketplace.services.versions import _delete_unreferenced, versions_requeue_unqueued

logger = logging.getLogger("modelbay.pipeline")


def _heartbeat(claim: claims.Claim):
    """Refresh the claim's heartbeat every lease/3 s while the stage runs."""
    return renewed(lambda: claims.heartbeat(claim), every=max(1.0, settings.MODELBAY_PIPELINE_LEASE_SECONDS / 3),
                   name=f"heartbeat-{claim.version_id}")  # fmt: skip


def _run_stage(claim: claims.Claim, work: Path) -> bool:
    """Run one claimed stage; True when the version moved on and the loop should continue."""
    version = ModelVersion.objects.select_related("model__organization").get(pk=claim.version_id)
    runner = runners.RUNNERS[claim.stage]
    try:
        with _heartbeat(claim):
            outcome = runner(version, work)
    except ModelCheckError as exc:
        logger.info("version %s failed at %s: %s", claim.version_id, claim.stage, exc.code)
        claims.fail(claim, code=exc.code, reason=exc.message, hint=hint_for(exc.code),
                    details=_safe_details(exc.details))  # fmt: skip
        return False
    except Exception:
        logger.exception("version %s: unexpected error at %s", claim.version_id, claim.stage)
        claims.fail(claim, code="internal_error", reason="an unexpected error stopped this stage",
                    hint=hint_for("internal_error"))  # fmt: skip
        return False
    if not claims.complete(claim, detail=outcome.detail, fields=outcome.fields, skipped=outcome.skipped,
                           state=outcome.state):  # fmt: skip
        # We lost the claim (taken over, or the version was deleted): our outputs are orphans.
        organization = version.model.organization
        still = ModelVersion.objects.filter(pk=claim.version_id).exists()
        if still:
            _delete_unreferenced(organization, outcome.saved)
        else:
            for name in outcome.saved:
                artifact_delete(organization=organization, name=name)
        return False
    if claim.stage == claims.STAGES[-1]:  # ready: the intermediate bundle is no longer referenced
        names = [version.pipeline_state.get(key, "") for key in claims.INTERMEDIATE_STATE]
        _delete_unreferenced(version.model.organization, names)
    return True


def _safe_details(details: dict) -> dict:
    """Details go to the vendor: keep them small; the sandbox log tail stays in ours."""
    out = {k: v for k, v in details.items() if k not in ("traceback", "log_tail")}
    if isinstance(out.get("sandbox"), dict):
        out["sandbox"] = {k: v for k, v in out["sandbox"].items() if k not in ("traceback", "log_tail")}
    return out


@shared_task(name="inference.pipeline.process_version", ignore_result=True,
             soft_time_limit=None, time_limit=None)  # fmt: skip
def process_version(version_id: int) -> None:
    # Sandboxed steps carry their own wall-clock limits; the task itself is not cut short.
    work = Path(tempfile.mkdtemp(prefix=f"mb-convert-{version_id}-"))
    waited_until = time.monotonic() + 3 * settings.MODELBAY_PIPELINE_LEASE_SECONDS
    try:
        while True:
            try:
                claim = claims.claim_next(version_id=version_id)
            except claims.StageBusy as busy:
                if time.monotonic() > waited_until:
                    return  # the holder is alive and slow; beat re-queues if it ever stalls
                time.sleep(min(busy.wait, 5.0))
                continue
            if claim is None:
                return
            logger.info("version %s: %s (attempt %s)", version_id, claim.stage, claim.attempt)
            if not _run_stage(claim, work):
                return
    finally:
        shutil.rmtree(work, ignore_errors=True)


@shared_task(name="inference.pipeline.requeue_stuck", ignore_result=True, acks_late=False)
def requeue_stuck() -> int:
    """Re-queue versions nobody advanced within the deadline; the task's claim logic then
    takes over dead claims or fails the version after CELERY_MAX_DELIVERIES. Uploads whose
    message the broker refused are sent first, without waiting for the deadline."""
    count = versions_requeue_unqueued()
    now = timezone.now()
    deadline = now - timedelta(seconds=settings.MODELBAY_PIPELINE_STAGE_DEADLINE_SECONDS)
    dead_since = now - 2 * claims.lease()
    stuck = ModelVersion.objects.filter(status__in=claims.ACTIVE).filter(
        Q(claim_token="", updated_at__lt=deadline)  # queued, but the message was lost
        | (~Q(claim_token="") & Q(claimed_at__lt=dead_since))  # holder stopped heartbeating
    )
    for version_id in stuck.values_list("pk", flat=True):
        process_version.delay(version_id)
        count += 1
    return count
