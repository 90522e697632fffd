"""The README's run command on the embedded default: SQLite, embedded Redis, local disk."""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from core import embedded_redis

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_command_brings_up_the_embedded_stack_and_its_printed_curl_works():
    var_dir = Path(tempfile.mkdtemp(prefix="mb-run-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "MODELBAY_TEST_RUN_ID", "MODELBAY_WORKER_USES_TEST_DB"}}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", MODELBAY_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
    log_path = var_dir / "stack.log"
    with open(log_path, "wb") as log:
        stack = subprocess.Popen([sys.executable, "manage.py", "runstack", "--port", str(port)], cwd=ROOT,
                                 env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while b"Ctrl-C stops everything" not in log_path.read_bytes():
                assert stack.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.5)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                assert response.status == 200
                assert json.load(response)["checks"]["redis"] == "ok"
            assert embedded_redis.is_up(var_dir / "redis.sock")

            # The printed example is a real, metered inference call on the demo model.
            curl = re.search(r"^\s*(curl .+)$", log_path.read_text(), re.MULTILINE).group(1)
            result = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=30)
            assert result.returncode == 0, result.stderr
            head, _, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
            assert head.startswith("HTTP/1.1 200"), result.stdout
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head.splitlines()[1:])}
            assert headers["x-modelbay-units"] == "4"  # billing units are the tensor elements sent
            assert "x-modelbay-cost" in headers
            outputs = json.loads(body)["outputs"]
            assert outputs[0]["name"] == "y" and outputs[0]["shape"] == [1, 2]
        finally:
            stack.send_signal(signal.SIGINT)
            stack.wait(60)
    assert stack.returncode == 0, log_path.read_text()
    assert not embedded_redis.is_up(var_dir / "redis.sock")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
