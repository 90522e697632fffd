"""core.supervisor with real child processes (sleep, sh): restarts with backoff, a clean stop,
no busy loop on a child that keeps dying, and Ctrl-C/SIGTERM at any moment."""

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.supervisor import Backoff, Child, Supervisor, down_in

ROOT = Path(__file__).resolve().parents[2]


def spawner(*command: str):
    return lambda: subprocess.Popen(list(command), stdin=subprocess.DEVNULL, start_new_session=True)


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; only its parent has not collected it yet


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def supervisor(tmp_path, lines):
    sup = Supervisor(log=lines.append, backoff=Backoff(initial=0.1, cap=0.4, reset_after=60),
                     state_file=tmp_path / "processes.json", interval=0.01)
    yield sup
    sup.stop(timeout=5)


def pid_of(sup: Supervisor, name: str) -> int:
    return next(s.process.pid for s in sup.slots if s.child.name == name)


def kill_and_wait_for_restart(sup: Supervisor, name: str) -> int:
    old = pid_of(sup, name)
    os.kill(old, signal.SIGKILL)
    assert sup.run(30, until=lambda: pid_of(sup, name) != old and not sup.down())
    assert not running(old)
    return pid_of(sup, name)


def test_a_killed_child_is_restarted_with_growing_backoff_and_the_output_says_so(supervisor, lines):
    supervisor.add(Child("sleeper", spawner("sleep", "60")))
    for _ in range(4):
        pid = kill_and_wait_for_restart(supervisor, "sleeper")
        assert running(pid)
    restarts = [line for line in lines if "restarting" in line]
    assert restarts == [
        "sleeper exited with signal 9; restarting in 0.1s (restart 1)",
        "sleeper exited with signal 9; restarting in 0.2s (restart 2)",
        "sleeper exited with signal 9; restarting in 0.4s (restart 3)",
        "sleeper exited with signal 9; restarting in 0.4s (restart 4)",  # capped
    ]
    assert "sleeper is back" in lines[-1]


def test_the_backoff_starts_over_once_a_child_stayed_up_long_enough():
    lines: list[str] = []
    sup = Supervisor(log=lines.append, backoff=Backoff(initial=0.1, cap=5, reset_after=2), interval=0.01)
    try:
        sup.add(Child("sleeper", spawner("sleep", "60")))
        kill_and_wait_for_restart(sup, "sleeper")
        kill_and_wait_for_restart(sup, "sleeper")
        sup.run(2.2)  # longer than reset_after
        kill_and_wait_for_restart(sup, "sleeper")
    finally:
        sup.stop(timeout=5)
    assert [line for line in lines if "restarting" in line] == [
        "sleeper exited with signal 9; restarting in 0.1s (restart 1)",
        "sleeper exited with signal 9; restarting in 0.2s (restart 2)",
        "sleeper exited with signal 9; restarting in 0.1s (restart 1)",
    ]


def test_a_child_that_keeps_dying_is_restarted_ever_more_slowly_not_in_a_busy_loop(supervisor, lines):
    starts = []

    def start():
        starts.append(1)
        return spawner("sh", "-c", "exit 3")()

    supervisor.add(Child("crasher", start))
    supervisor.run(3)
    # Delays 0.1, 0.2, 0.4, 0.4, ...: at most ~9 starts fit in 3 s; without backoff, hundreds.
    assert 3 <= len(starts) <= 12
    delays = [float(d) for d in re.findall(r"crasher exited with status 3; restarting in ([\d.]+)s",
                                             "\n".join(lines))]
    assert delays == sorted(delays) and delays[-1] == 0.4


def test_a_child_that_cannot_even_start_is_retried_with_backoff(supervisor, lines):
    attempts = []

    def start():
        attempts.append(1)
        if len(attempts) > 1:
            raise RuntimeError("embedded redis did not answer")
        return spawner("sh", "-c", "exit 0")()

    supervisor.add(Child("redis", start))
    supervisor.run(1)
    assert "redis exited with status 0; restarting in 0.1s (restart 1)" in lines
    assert ("redis could not start (RuntimeError: embedded redis did not answer); retrying in 0.2s "
            "(restart 2)") in lines
    assert supervisor.down() == ["redis"]


def test_stop_leaves_no_process_not_even_what_children_forked_or_ignoring_sigterm(supervisor, lines):
    supervisor.add(Child("forker", spawner("sh", "-c", "sleep 60 & sleep 60 & wait")))
    supervisor.add(Child("stubborn", spawner("sh", "-c", "trap '' TERM; sleep 60 & wait")))
    supervisor.add(Child("paused", spawner("sleep", "60")))
    groups = {name: pid_of(supervisor, name) for name in ("forker", "stubborn", "paused")}
    members: list[int] = []

    def forked() -> bool:
        members[:] = [pid for pgid in groups.values() for pid in group_members(pgid)]
        return len(members) == 6  # the shells and their sleeps: three, two and one

    assert supervisor.run(30, until=forked)
    os.kill(groups["paused"], signal.SIGSTOP)

    supervisor.stop(timeout=2)

    assert not [pid for pid in members if running(pid)]
    assert not [pgid for pgid in groups.values() if group_members(pgid)]
    assert "stubborn did not stop within 2s; killing it" in lines
    assert not any(line.startswith(("forker did not", "paused did not")) for line in lines)
    assert not supervisor.state_file.exists()


def test_the_state_file_names_a_child_while_it_is_down_or_not_ready(supervisor, tmp_path):
    flag = tmp_path / "ready"
    supervisor.add(Child("sleeper", spawner("sleep", "60")))
    supervisor.add(Child("slow", spawner("sleep", "60"), ready=lambda process: flag.exists()))
    supervisor.tick()
    assert down_in(supervisor.state_file) == ["slow"]
    flag.touch()
    supervisor.tick()
    assert down_in(supervisor.state_file) == []
    os.kill(pid_of(supervisor, "sleeper"), signal.SIGKILL)
    supervisor.run(5, until=lambda: bool(supervisor.down()))
    assert down_in(supervisor.state_file) == ["sleeper"]
    supervisor.stop(timeout=5)
    assert down_in(supervisor.state_file) == ["supervisor"]


SIGNALLED = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    from core.supervisor import Child, StopRequested, Supervisor

    def start():
        if sys.argv[1] == "while-starting":
            os.kill(os.getpid(), signal.SIGTERM)  # lands while the child is being started
        process = subprocess.Popen(["sleep", "60"], start_new_session=True)
        print("child", process.pid, flush=True)
        return process

    sup = Supervisor(log=print)
    sup.handle_signals()
    try:
        sup.add(Child("sleeper", start))
        print("started", flush=True)
        time.sleep(60)  # stands for in-process work: a migration, the wait for the demo model
        print("not interrupted", flush=True)
    except StopRequested:
        print("stop requested", flush=True)
    finally:
        sup.stop()
""")


@pytest.mark.parametrize("when", ["while-starting", "during-in-process-work"])
def test_sigterm_at_any_moment_stops_the_supervisor_and_its_children(when):
    proc = subprocess.Popen([sys.executable, "-c", SIGNALLED, when], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        first = proc.stdout.readline()
        assert first.startswith("child "), first + proc.stdout.read()
        child = int(first.split()[1])
        if when == "during-in-process-work":
            first += proc.stdout.readline()
            assert first.endswith("started\n"), first
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = first + proc.stdout.read()
    assert proc.returncode == 0, out
    assert "stop requested" in out and "not interrupted" not in out
    if when == "while-starting":
        assert "started" not in out  # the request waited for the child to be recorded, no longer
        assert "Stopping sleeper" in out  # and the child it recorded was stopped
    assert not running(child)
