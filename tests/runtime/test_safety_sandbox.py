"""SECURITY.md rows 2, 10, 11 and crashes: whatever the child does, the parent survives."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from inference.conversion.steps.errors import ConversionFailed, ModelCheckError, SandboxLimit
from inference.conversion.steps.sandbox import Limits, run_sandboxed

HERE = "tests.runtime.test_safety_sandbox."
FAST = Limits(address_space_bytes=2 * 2**30, cpu_seconds=10, wall_seconds=20)


# --- targets: run in the child, imported by dotted path ------------------------------------


def target_ok(value: int) -> dict:
    return {"double": value * 2, "cwd": os.getcwd(), "tmpdir": os.environ.get("TMPDIR"),
            "env_keys": sorted(os.environ)}  # fmt: skip


def target_connect(port: int) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return {"connected": True}


def target_raw_connect(port: int) -> dict:
    import _socket  # bypasses the Python-level block: only the namespace stops this

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    return {"connected": True}


def target_allocate() -> dict:
    hog = []
    while True:
        hog.append(bytearray(64 * 2**20))


def target_huge_bytearray() -> dict:
    return {"n": len(bytearray(10**12))}


def target_spin() -> dict:
    while True:
        pass


def target_sleep() -> dict:
    time.sleep(3600)
    return {}


def target_segfault() -> dict:
    import ctypes

    ctypes.string_at(0)
    return {}


def target_write_big_file() -> dict:
    with open("big.bin", "wb") as fh:
        fh.write(b"\0" * (8 * 2**20))
    return {}


def target_leave_grandchild() -> dict:
    import subprocess

    return {"pid": subprocess.Popen(["sleep", "600"]).pid}


def target_raise() -> dict:
    raise RuntimeError("vendor forward() exploded")


# --- tests ---------------------------------------------------------------------------------


def _run(target: str, tmp_path, limits: Limits = FAST, **kwargs) -> dict:
    return run_sandboxed(HERE + target, kwargs, limits=limits, workdir=tmp_path,
                         allow_prefixes=(HERE,))  # fmt: skip


def test_child_runs_in_its_workdir_with_a_scrubbed_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "sk_live_secret")
    result = _run("target_ok", tmp_path, value=21)
    assert result["double"] == 42
    assert result["cwd"] == str(tmp_path.resolve())
    assert result["tmpdir"].startswith(str(tmp_path.resolve()))
    assert "STRIPE_API_KEY" not in result["env_keys"]
    assert "network_isolated" in result["sandbox"]


def test_targets_outside_the_runtime_are_refused_without_an_explicit_allow(tmp_path):
    with pytest.raises(ValueError):
        run_sandboxed("os.system", {"command": "true"}, workdir=tmp_path)
    with pytest.raises(ValueError):
        run_sandboxed(HERE + "target_ok", {"value": 1}, workdir=tmp_path)


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def test_conversion_that_tries_the_network_fails_inside_the_sandbox(tmp_path, listener):
    port, accepted = listener
    with pytest.raises(ConversionFailed) as exc:
        _run("target_connect", tmp_path, port=port)
    assert "network access is disabled" in exc.value.message
    assert accepted == []


def test_raw_socket_cannot_reach_the_host_when_the_namespace_is_available(tmp_path, listener):
    port, accepted = listener
    isolated = _run("target_ok", tmp_path, value=0)["sandbox"]["network_isolated"]
    if not isolated:
        pytest.skip("this host does not allow an empty network namespace")
    with pytest.raises(ConversionFailed):
        _run("target_raw_connect", tmp_path, port=port)
    assert accepted == []


def test_runaway_allocation_is_killed_by_the_memory_limit(tmp_path):
    with pytest.raises(SandboxLimit) as exc:
        _run("target_allocate", tmp_path, limits=FAST.but(address_space_bytes=1 * 2**30))
    assert "more than 1 GiB of memory" in exc.value.message


def test_terabyte_bytearray_is_refused_by_the_memory_limit(tmp_path):
    with pytest.raises(SandboxLimit) as exc:
        _run("target_huge_bytearray", tmp_path)
    assert "memory" in exc.value.message


def test_infinite_loop_is_killed_by_the_cpu_limit(tmp_path):
    started = time.monotonic()
    with pytest.raises(SandboxLimit) as exc:
        _run("target_spin", tmp_path, limits=FAST.but(cpu_seconds=2))
    assert "more than 2 CPU seconds" in exc.value.message
    assert time.monotonic() - started < 15


def test_sleeping_child_is_killed_by_the_wall_clock_timeout(tmp_path):
    started = time.monotonic()
    with pytest.raises(SandboxLimit) as exc:
        _run("target_sleep", tmp_path, limits=FAST.but(wall_seconds=2))
    assert "longer than 2 seconds" in exc.value.message
    assert time.monotonic() - started < 10


def test_segfault_in_the_child_becomes_a_clear_error(tmp_path):
    with pytest.raises(SandboxLimit) as exc:
        _run("target_segfault", tmp_path)
    assert "signal 11 (SIGSEGV)" in exc.value.message
    assert os.getpid() > 0  # still here
    assert _run("target_ok", tmp_path, value=1)["double"] == 2  # and still able to work


def test_oversized_file_is_stopped_by_the_file_size_limit(tmp_path):
    with pytest.raises(SandboxLimit) as exc:
        _run("target_write_big_file", tmp_path, limits=FAST.but(file_size_bytes=2**20))
    assert "larger than 1 MiB" in exc.value.message


def test_exception_in_the_child_names_its_cause(tmp_path):
    with pytest.raises(ModelCheckError) as exc:
        _run("target_raise", tmp_path)
    assert exc.value.code == "conversion_failed"
    assert "vendor forward() exploded" in exc.value.message


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead already
    except FileNotFoundError:
        return False


def test_grandchildren_do_not_outlive_the_step(tmp_path):
    pid = _run("target_leave_grandchild", tmp_path)["pid"]
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def target_report_pid_then_sleep() -> dict:
    with open("child.pid", "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(3600)
    return {}


def test_child_dies_when_its_worker_is_killed_with_sigkill(tmp_path):
    """SECURITY row 13: kill -9 of the worker must not leave a conversion running on."""
    import signal
    import subprocess
    import sys
    import textwrap

    parent_code = textwrap.dedent(f"""
        import pathlib
        from inference.conversion.steps.sandbox import Limits, run_sandboxed
        run_sandboxed({HERE + 'target_report_pid_then_sleep'!r}, {{}}, workdir=pathlib.Path({str(tmp_path)!r}),
                      limits=Limits(address_space_bytes=2 * 2**30, cpu_seconds=600, wall_seconds=600),
                      allow_prefixes=({HERE!r},))
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=os.getcwd())
    pid_files = lambda: list(tmp_path.rglob("child.pid"))  # noqa: E731 - the workdir layout is the sandbox's
    deadline = time.monotonic() + 60
    while not (pid_files() and pid_files()[0].read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child_pid = int(pid_files()[0].read_text())
    assert _alive(child_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid)
