"""An upload that commits while the broker is down: the vendor gets their 202, the version is
marked, and the beat sweep queues it within a minute of the broker's return (SECURITY.md #25).

The outage is real to Celery and kombu (the `broker_down` fixture, tests/conftest.py). Real
commits (transaction=True), so the on-commit send runs inside the request as in production.
"""

import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.redis import get_redis
from inference.conversion.tasks import requeue_stuck
from marketplace.models import ModelVersion
from marketplace.services.versions import UNQUEUED
from tests.marketplace.test_vendor_api import _tiny_onnx

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def convert_queue():
    redis = get_redis()
    redis.delete("convert")
    yield redis
    redis.delete("convert")  # no worker in this test; leave nothing for later ones


def _upload(vendor, version: str):
    return vendor.client.post("/api/v1/vendor/models/tiny/versions",
                              {"file": SimpleUploadedFile("relu.onnx", _tiny_onnx()), "version": version},
                              format="multipart")  # fmt: skip


def test_upload_during_a_broker_outage_is_accepted_and_queued_once_the_broker_is_back(
        vendor, broker_down, convert_queue, caplog):
    assert vendor.client.post("/api/v1/vendor/models", {"name": "Tiny", "slug": "tiny", "task": "regression"},
                              format="json").status_code == 201  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="modelbay.queueing"):
        response = _upload(vendor, "1.0.0")
    assert response.status_code == 202, response.content  # committed: not a 500 inviting a retry
    assert response.json()["status"] == "received"
    version = ModelVersion.objects.get()
    assert UNQUEUED in version.pipeline_state
    assert "inference.pipeline.process_version" in caplog.text and "OperationalError" in caplog.text
    assert convert_queue.llen("convert") == 0

    assert requeue_stuck() == 1  # the broker is still down: the mark is set again
    version.refresh_from_db()
    assert UNQUEUED in version.pipeline_state

    broker_down()  # the broker is back
    assert requeue_stuck() == 1
    assert convert_queue.llen("convert") == 1  # one message, on the convert queue
    version.refresh_from_db()
    assert UNQUEUED not in version.pipeline_state and version.status == "received"
    assert requeue_stuck() == 0  # queued now: the next sweeps leave it to its worker
    assert convert_queue.llen("convert") == 1


def test_uploads_with_the_broker_up_are_queued_once_and_not_marked(vendor, convert_queue):
    assert vendor.client.post("/api/v1/vendor/models", {"name": "Tiny", "slug": "tiny", "task": "regression"},
                              format="json").status_code == 201  # fmt: skip
    assert _upload(vendor, "1.0.0").status_code == 202
    assert convert_queue.llen("convert") == 1
    assert UNQUEUED not in ModelVersion.objects.get().pipeline_state
    assert requeue_stuck() == 0
    assert convert_queue.llen("convert") == 1
