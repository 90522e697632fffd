"""A revoked key is refused by every process on its very next call, not after a cache expires.

The other process is real: a gunicorn web server started by the test on the test database and
Redis, which has just authenticated (and cached) the key when this process revokes it.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from accounts.services import api_key_create, api_key_revoke
from tests.conftest import make_persona
from tests.workers import ROOT, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebProcess:
    """`gunicorn config.wsgi` in a child process; stopped (SIGTERM, then SIGKILL) by the test."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.log_path = Path(settings.VAR_DIR) / f"web-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        # The production-like default: a key stays in the process cache for a whole minute.
        env = worker_env(API_KEY_CACHE_SECONDS="60")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{self.port}",
             "-w", "1", "--threads", "2", "--timeout", "60"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log_path.read_text()}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2).read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready in 60 s:\n{self.log_path.read_text()}")

    def get(self, path: str, secret: str) -> tuple[int, dict]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                         headers={"Authorization": f"Bearer {secret}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


@pytest.fixture
def web_process(django_db_setup, django_db_blocker):
    web = WebProcess()
    yield web
    web.stop()


def test_a_key_revoked_here_is_refused_at_once_by_another_running_process(web_process):
    owner = make_persona("revoker-co")
    doomed, secret = api_key_create(organization=owner.organization, created_by=owner.user,
                                    name="leaked", scopes=["keys:manage"])
    # The other process authenticates the key twice: the second call is served from its cache.
    for _ in range(2):
        assert web_process.get("/api/v1/keys", secret)[0] == 200

    api_key_revoke(organization=owner.organization, key_id=doomed.pk, actor=owner.user)

    status, body = web_process.get("/api/v1/keys", secret)
    assert status == 401
    assert "revoked" in body["error"]["message"]
    # The organization's other key is untouched by the revocation.
    assert web_process.get("/api/v1/keys", owner.secret)[0] == 200
