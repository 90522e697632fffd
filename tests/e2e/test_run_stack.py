"""The README's run command on the embedded default: SQLite, embedded Redis, local disk, and
the supervision that keeps it up: a killed process comes back by itself, /readyz says what is
down meanwhile, and Ctrl-C or SIGTERM at any moment leaves no process behind.

One stack serves the tests that take it in order (start, pages, kills, Ctrl-C); the SIGTERM
during the demo model's conversion needs a stack of its own."""

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
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from core import embedded_redis

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
BANNER_END = "Ctrl-C stops everything"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_of(var_dir: Path) -> dict[int, str]:
    """Live processes of the stack on this var dir: those whose environment names it, and Redis,
    whose process title (written over its environment) names its socket there."""
    marker = f"MODELBAY_VAR_DIR={var_dir}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ours = marker in (entry / "environ").read_bytes().split(b"\0") or f"{var_dir}/" in cmdline
            if ours and (entry / "stat").read_text().rpartition(")")[2].split()[0] != "Z":
                found[int(entry.name)] = cmdline
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


@dataclass
class Stack:
    process: subprocess.Popen
    var_dir: Path
    port: int
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, *, since: int = 0, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log()[since:]:
            assert self.process.poll() is None, f"the stack exited before saying {text!r}:\n{self.log()}"
            assert time.monotonic() < deadline, f"the stack did not say {text!r}:\n{self.log()}"
            time.sleep(0.1)

    def pid_of(self, marker: str, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while True:
            pids = [pid for pid, cmdline in processes_of(self.var_dir).items() if marker in cmdline]
            if pids:
                return pids[0]
            assert self.process.poll() is None and time.monotonic() < deadline, self.log()
            time.sleep(0.05)

    def readyz(self) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"{self.base}/readyz", timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def wait_for_readyz(self, status: int, failing: str | None = None, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                code, body = self.readyz()
                if code == status and (failing is None or failing in body.get("failed", [])):
                    return body
            except OSError as exc:
                code, body = None, str(exc)
            assert time.monotonic() < deadline, f"/readyz: {code} {body}\n{self.log()}"
            time.sleep(0.1)

    def curl(self) -> subprocess.CompletedProcess:
        """The curl the banner printed, as a user would paste it."""
        curl = re.search(r"^\s*(curl .+)$", self.log(), re.MULTILINE).group(1)
        return subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=60)

    def wait_for_curl_to_work(self, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while True:
            result = self.curl()
            if result.returncode == 0 and result.stdout.startswith("HTTP/1.1 200"):
                return result.stdout
            assert time.monotonic() < deadline, f"curl: {result.stdout} {result.stderr}\n{self.log()}"
            time.sleep(0.5)

    def end(self) -> None:
        """Teardown for a failed test: no process of this stack may outlive it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for pid in processes_of(self.var_dir):
            os.kill(pid, signal.SIGKILL)


def stack_env(var_dir: Path) -> dict[str, str]:
    """The environment of a stack on `var_dir` (also for a manage.py command run against it):
    the embedded default, whatever services the test run itself was given."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "MODELBAY_TEST_RUN_ID", "MODELBAY_WORKER_USES_TEST_DB",
                        "DEBUG", "MODELBAY_PROCESS_STATE"}}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", MODELBAY_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
    return env


def start_stack() -> Stack:
    var_dir = Path(tempfile.mkdtemp(prefix="mb-run-"))
    env = stack_env(var_dir)
    port = free_port()
    log_path = var_dir / "stack.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "manage.py", "runstack", "--port", str(port)], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Stack(process=process, var_dir=var_dir, port=port, log_path=log_path)


@contextmanager
def stack_up() -> Iterator[Stack]:
    """A stack whose banner has printed; ended (every process it started stopped) on exit."""
    running = start_stack()
    try:
        running.wait_for_output(BANNER_END, timeout=300)
        yield running
    finally:
        running.end()


@pytest.fixture(scope="module")
def stack():
    with stack_up() as running:
        yield running


def test_run_command_brings_up_the_embedded_stack_and_its_printed_curl_works(stack):
    status, body = stack.readyz()
    assert status == 200
    assert body["checks"]["redis"] == "ok" and body["checks"]["processes"] == "ok"
    assert embedded_redis.is_up(stack.var_dir / "redis.sock")

    # The printed example is a real, metered inference call on the demo model.
    result = stack.curl()
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1.1 200"), result.stdout
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head.splitlines()[1:])}
    assert headers["x-modelbay-units"] == "4"  # billing units are the tensor elements sent
    assert "x-modelbay-cost" in headers
    outputs = json.loads(body)["outputs"]
    assert outputs[0]["name"] == "y" and outputs[0]["shape"] == [1, 2]
    # The Stripe stand-in signs its webhooks with a secret made for this run, not a known one.
    standin = stack.pid_of("stripe_standin")
    secret = processes_of(stack.var_dir)[standin].split("--webhook-secret ")[1].split()[0]
    assert re.fullmatch(r"whsec_[0-9a-f]{48}", secret)


def test_the_demo_chat_model_becomes_ready_and_the_printed_calls_stream_a_per_token_billed_answer(stack):
    import openai

    stack.wait_for_output("Try the chat model", timeout=300)
    # The printed curl streams server-sent events, as pasted.
    curl = re.search(r"^\s*(curl -s -N .+)$", stack.log(), re.MULTILINE).group(1)
    result = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=60)
    events = [line.removeprefix("data: ") for line in result.stdout.splitlines() if line.startswith("data: ")]
    assert events and events[-1] == "[DONE]", (result.stdout, result.stderr)
    chunks = [json.loads(event) for event in events[:-1]]
    assert {c["model"] for c in chunks} == {"acme-ai.tiny-chat"}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("length", "stop")
    # The printed SDK line works as written; the receipt counts prompt and completion tokens.
    base, key = re.search(r'openai\.OpenAI\(base_url="([^"]+)", api_key="([^"]+)"\)', stack.log()).groups()
    client = openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=60)
    assert "acme-ai.tiny-chat" in {m.id for m in client.models.list()}
    raw = client.chat.completions.with_raw_response.create(
        model="acme-ai.tiny-chat", messages=[{"role": "user", "content": "Hello"}], max_tokens=4)
    reply = raw.parse()
    assert reply.usage.completion_tokens >= 1
    assert raw.headers["x-modelbay-units"] == str(reply.usage.prompt_tokens + reply.usage.completion_tokens)
    assert raw.headers["x-modelbay-cost"].endswith(" USD")


def test_the_printed_playground_address_chats_with_the_demo_model_in_chromium(stack):
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.conftest import CHROMIUM, LAUNCH_ARGS

    stack.wait_for_output("Try the chat model", timeout=300)
    log = stack.log()
    playground = re.search(r"signed in as the buyer: (\S+)", log).group(1)
    password = re.search(r"logins \(password: (\S+)\)", log).group(1)
    buyer = re.search(r"^\s+buyer\s+(\S+@\S+)$", log, re.MULTILINE).group(1)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(playground)  # signed out: the login form, which comes back here
            page.get_by_label("Email").fill(buyer)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Playground: Tiny Chat")
            page.get_by_label("Message").fill("Hello")
            page.get_by_role("button", name="Send").click()
            expect(page.get_by_test_id("chat-usage")).to_contain_text("completion tokens", timeout=60_000)
            assert page.get_by_test_id("assistant-bubble").last.locator(".text").text_content()
        finally:
            browser.close()


def test_the_stack_runs_with_debug_off_and_still_serves_pages_and_static_files(stack):
    with urllib.request.urlopen(f"{stack.base}/catalog/", timeout=10) as response:
        assert response.status == 200 and "text/html" in response.headers["Content-Type"]
        page = response.read().decode()
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page).group(1)
    with urllib.request.urlopen(f"{stack.base}{stylesheet}", timeout=10) as response:
        assert response.status == 200 and "text/css" in response.headers["Content-Type"]
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{stack.base}/no-such-page/", timeout=10)
    assert missing.value.code == 404
    assert "URLconf" not in missing.value.read().decode()  # Django's debug page lists the URLs


def test_a_killed_inference_worker_is_restarted_and_the_printed_curl_works_again(stack):
    since = len(stack.log())
    os.kill(stack.pid_of("infer@%h"), signal.SIGKILL)
    stack.wait_for_output("infer-worker exited with signal 9; restarting in", since=since)
    body = stack.wait_for_readyz(503, failing="infer-worker")
    assert body["status"] == "unavailable"
    assert "HTTP/1.1 200" in stack.wait_for_curl_to_work()
    stack.wait_for_readyz(200)


def test_a_killed_web_server_is_restarted_with_its_workers_and_the_printed_curl_works_again(stack):
    def parent(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])

    gunicorns = [pid for pid, cmdline in processes_of(stack.var_dir).items() if "gunicorn" in cmdline]
    master = next(pid for pid in gunicorns if parent(pid) == stack.process.pid)
    since = len(stack.log())
    os.kill(master, signal.SIGKILL)  # its workers are orphaned, still holding the port
    stack.wait_for_output("web exited with signal 9; restarting in", since=since)
    assert "HTTP/1.1 200" in stack.wait_for_curl_to_work()
    stack.wait_for_output("web is back", since=since)
    stack.wait_for_readyz(200)
    now = [pid for pid, cmdline in processes_of(stack.var_dir).items() if "gunicorn" in cmdline]
    assert not set(now) & set(gunicorns), "the killed master's workers were stopped, not left behind"
    assert len(now) == 3  # a new master and its two workers


def test_a_killed_embedded_redis_is_restarted_on_its_socket_and_the_printed_curl_works_again(stack):
    socket_path = stack.var_dir / "redis.sock"
    since = len(stack.log())
    os.kill(stack.pid_of(str(socket_path)), signal.SIGKILL)
    stack.wait_for_output("redis exited with signal 9; restarting in", since=since)
    stack.wait_for_readyz(503, failing="redis")
    assert "HTTP/1.1 200" in stack.wait_for_curl_to_work()
    assert embedded_redis.is_up(socket_path)
    stack.wait_for_readyz(200)


def test_ctrl_c_after_restarts_stops_every_process_the_stack_started(stack):
    assert len(processes_of(stack.var_dir)) >= 7  # runstack, redis, stand-in, web (3), workers, beat
    stack.process.send_signal(signal.SIGINT)
    stack.process.wait(60)
    assert stack.process.returncode == 0, stack.log()
    assert processes_of(stack.var_dir) == {}
    assert not embedded_redis.is_up(stack.var_dir / "redis.sock")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{stack.base}/healthz", timeout=2)


def test_sigterm_while_waiting_for_the_demo_model_restarts_a_dead_worker_then_stops_everything():
    stack = start_stack()
    try:
        # A paused conversion worker keeps the stack waiting for the demo model for as long as
        # this test needs; killing it then must be noticed during that wait.
        convert = stack.pid_of("convert@%h")
        os.kill(convert, signal.SIGSTOP)
        stack.wait_for_output("Converting the demo model through the pipeline", timeout=180)
        since = len(stack.log())
        os.kill(convert, signal.SIGKILL)
        stack.wait_for_output("convert-worker exited with signal 9; restarting in", since=since, timeout=30)

        stack.process.send_signal(signal.SIGTERM)
        stack.process.wait(60)
        assert stack.process.returncode == 0, stack.log()
        assert BANNER_END not in stack.log()  # it was still waiting for the demo model
        assert processes_of(stack.var_dir) == {}
    finally:
        stack.end()
