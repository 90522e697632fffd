import os
import signal
import subprocess

import pytest
from django.conf import settings

from core import embedded_redis
from core.redis import reset_redis
from core.supervisor import STATE_ENV, Backoff, Child, Supervisor

pytestmark = pytest.mark.django_db


def test_healthz_says_the_process_is_alive(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_200_when_database_redis_and_storage_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "storage": "ok"}


def test_readyz_answers_503_naming_redis_when_redis_is_down(client, settings, tmp_path):
    # A real Redis that we then stop, so the failure is the genuine one a deployment would see.
    socket_path = settings.VAR_DIR / "readyz-redis.sock"
    process = embedded_redis.start(socket_path, data_dir=tmp_path)
    settings.REDIS_URL = f"unix://{socket_path}?db=0"
    reset_redis()
    try:
        assert client.get("/readyz").status_code == 200
        embedded_redis.stop(process)
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["failed"] == ["redis"]
        assert response.json()["checks"]["database"] == "ok"
    finally:
        embedded_redis.stop(process)
        reset_redis()


def test_settings_point_at_the_redis_the_suite_runs_against():
    assert settings.REDIS_URL


def test_readyz_names_a_supervised_process_while_it_is_down_and_is_ready_once_it_is_back(
        client, monkeypatch, tmp_path):
    # A real supervisor and child, as `manage.py runstack` runs them beside the web process.
    supervisor = Supervisor(log=lambda line: None, backoff=Backoff(initial=0.5),
                            state_file=tmp_path / "processes.json", interval=0.01)
    monkeypatch.setenv(STATE_ENV, str(supervisor.state_file))
    try:
        child = supervisor.add(Child("infer-worker", lambda: subprocess.Popen(
            ["sleep", "60"], stdin=subprocess.DEVNULL, start_new_session=True)))
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"]["processes"] == "ok"

        os.kill(child.pid, signal.SIGKILL)
        supervisor.run(10, until=lambda: bool(supervisor.down()))
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["failed"] == ["infer-worker"]
        assert response.json()["checks"]["database"] == "ok"

        supervisor.run(10, until=lambda: not supervisor.down())
        assert client.get("/readyz").status_code == 200
    finally:
        supervisor.stop()
    # Nothing restarts the processes once their supervisor is gone: not ready either.
    assert client.get("/readyz").json()["failed"] == ["supervisor"]
