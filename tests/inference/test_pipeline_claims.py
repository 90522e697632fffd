"""Stage claims: idempotent, resumable, capped. Database only (the worker-level behaviour is in
tests/e2e/test_conversion_pipeline.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inference.conversion import claims
from inference.conversion.tasks import process_version, requeue_stuck
from marketplace.models import Model, ModelVersion
from marketplace.services.versions import initial_stages

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(vendor) -> ModelVersion:
    model = Model.objects.create(organization=vendor.organization, slug="m", name="M")
    return ModelVersion.objects.create(model=model, version="1.0.0", stages=initial_stages(),
                                       source_artifact=f"artifacts/{vendor.organization.pk}/none")


def test_first_claim_moves_received_to_scanning_and_a_second_claim_must_wait(version):
    claim = claims.claim_next(version_id=version.pk)
    assert claim.stage == "scanning" and claim.attempt == 1
    version.refresh_from_db()
    assert version.status == "scanning" and version.stages["scanning"]["state"] == "running"
    with pytest.raises(claims.StageBusy):
        claims.claim_next(version_id=version.pk)


def test_completed_stage_is_not_redone_by_a_redelivered_task(version):
    claim = claims.claim_next(version_id=version.pk)
    assert claims.complete(claim, detail={"format": "onnx"}, fields={"source_format": "onnx"})
    version.refresh_from_db()
    assert version.status == "converting" and version.claim_token == ""
    assert version.stages["scanning"]["state"] == "done" and version.stages["scanning"]["duration"] is not None
    # a late duplicate of the scanning worker cannot complete or fail anything any more
    assert not claims.complete(claim, detail={}, fields={"source_format": "torchscript"})
    assert not claims.fail(claim, code="x", reason="late", hint="")
    version.refresh_from_db()
    assert version.status == "converting" and version.source_format == "onnx"


def test_a_dead_workers_stage_is_taken_over_and_the_version_fails_after_the_delivery_cap(version, settings):
    settings.CELERY_MAX_DELIVERIES = 2
    first = claims.claim_next(version_id=version.pk)
    stale = timezone.now() - timedelta(seconds=settings.MODELBAY_PIPELINE_LEASE_SECONDS + 1)
    ModelVersion.objects.filter(pk=version.pk).update(claimed_at=stale)
    second = claims.claim_next(version_id=version.pk)
    assert second.stage == "scanning" and second.attempt == 2 and second.token != first.token
    assert not claims.heartbeat(first)  # the dead worker's claim is gone
    ModelVersion.objects.filter(pk=version.pk).update(claimed_at=stale)
    assert claims.claim_next(version_id=version.pk) is None
    version.refresh_from_db()
    assert version.status == "failed"
    assert version.failure["stage"] == "scanning" and version.failure["code"] == "worker_lost"
    assert "2 times" in version.failure["reason"] and version.failure["hint"]


def test_ready_and_failed_versions_are_left_alone(version):
    ModelVersion.objects.filter(pk=version.pk).update(status="ready")
    assert claims.claim_next(version_id=version.pk) is None
    process_version(version.pk)  # nothing to do, nothing raised
    version.refresh_from_db()
    assert version.status == "ready"


def test_missing_source_artifact_fails_the_version_with_a_reason(version):
    process_version(version.pk)
    version.refresh_from_db()
    assert version.status == "failed" and version.failure["stage"] == "scanning"
    assert version.failure["code"] == "internal_error" and version.failure["hint"]


def test_beat_requeues_only_versions_nobody_advanced(version, settings):
    from core.redis import get_redis

    old = timezone.now() - timedelta(seconds=settings.MODELBAY_PIPELINE_STAGE_DEADLINE_SECONDS + 5)
    ModelVersion.objects.create(model=version.model, version="1.0.1", stages=initial_stages())  # fresh
    ModelVersion.objects.filter(pk=version.pk).update(updated_at=old)
    redis = get_redis()
    before = redis.llen("convert")
    try:
        assert requeue_stuck() == 1
        assert redis.llen("convert") == before + 1  # one message, on the convert queue
    finally:
        redis.delete("convert")  # no worker in this test; leave nothing for later ones


def test_the_update_that_makes_a_version_ready_drops_its_intermediate_bundle(version):
    # One UPDATE: a reader never sees a ready version still pointing at the conversion bundle.
    ModelVersion.objects.filter(pk=version.pk).update(
        status="benchmarking", pipeline_state={"scanned": {"format": "onnx"}, "converted_bundle": "artifacts/1/b"})
    claim = claims.claim_next(version_id=version.pk)
    assert claim.stage == "benchmarking"
    assert claims.complete(claim, detail={}, fields={}, state={"benchmarked": True})
    version.refresh_from_db()
    assert version.status == "ready" and version.ready_at is not None
    assert version.pipeline_state == {"scanned": {"format": "onnx"}, "benchmarked": True}


def test_an_earlier_stage_keeps_the_bundle_a_later_stage_may_need(version):
    ModelVersion.objects.filter(pk=version.pk).update(
        status="validating", pipeline_state={"converted_bundle": "artifacts/1/b"})
    claim = claims.claim_next(version_id=version.pk)
    assert claims.complete(claim, detail={}, fields={})
    version.refresh_from_db()
    assert version.status == "optimizing" and version.pipeline_state == {"converted_bundle": "artifacts/1/b"}
