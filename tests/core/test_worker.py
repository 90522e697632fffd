import os

import pytest


@pytest.mark.django_db(transaction=True)
def test_task_sent_from_the_web_process_runs_in_a_real_worker(celery_worker, staff):
    response = staff.client.get("/api/v1/ops/workers/ping")
    assert response.status_code == 200
    answer = response.json()["worker"]
    assert answer["pid"] != os.getpid()
    assert celery_worker.process.poll() is None


@pytest.mark.django_db
def test_worker_ping_is_staff_only(buyer):
    assert buyer.client.get("/api/v1/ops/workers/ping").status_code == 403
