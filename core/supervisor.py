"""A small process supervisor: it starts children, restarts one that dies after a capped
exponential backoff, publishes who is up in a JSON file, and stops them all, leaving nothing.

Framework-free on purpose: `manage.py runstack` composes it, and tests drive it with plain
subprocesses. Each child must lead its own process group (start it with start_new_session=True),
so that stopping a child, or clearing up after one that died, reaches whatever it forked.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# The children learn where the state file is from this variable (readyz reads it).
STATE_ENV = "MODELBAY_PROCESS_STATE"


class StopRequested(BaseException):
    """Raised out of whatever the supervising process is doing when SIGINT or SIGTERM arrives.
    A BaseException, like KeyboardInterrupt: an `except Exception` in the code it interrupts (a
    migration, a wait) must not swallow it."""


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0  # a child that stayed up this long restarts from `initial` again

    def delay(self, restart: int) -> float:
        return min(self.cap, self.initial * 2 ** (restart - 1))


@dataclass
class Child:
    name: str
    start: Callable[[], subprocess.Popen]
    # Whether a running process serves yet (default: as soon as it runs). Asked on each tick until
    # it says yes, so keep it cheap; an exception counts as "not yet".
    ready: Callable[[subprocess.Popen], bool] | None = None
    # Infrastructure the others need while they shut down (Redis): stopped after them.
    stop_last: bool = False


@dataclass
class _Slot:
    child: Child
    process: subprocess.Popen | None = None
    state: str = "down"  # starting | up | down
    started_at: float = 0.0
    restarts: int = 0  # consecutive ones: back to 0 once the child stays up `reset_after`
    restart_at: float | None = None


class Supervisor:
    def __init__(self, *, log: Callable[[str], None], backoff: Backoff = Backoff(),
                 state_file: Path | None = None, interval: float = 0.25) -> None:
        self.log = log
        self.backoff = backoff
        self.state_file = state_file
        self.interval = interval
        self.slots: list[_Slot] = []
        self.stop_requested = False
        self._shield_depth = 0
        self._raised = False  # StopRequested is raised once; stop() must not be interrupted
        self._published: dict | None = None

    def handle_signals(self, *signums: int) -> None:
        """Make SIGINT/SIGTERM raise StopRequested wherever the process is (a migration, a wait),
        except while a child is being started or reaped: that is deferred to the end of it."""
        for signum in signums or (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop_requested = True
        if self._shield_depth == 0 and not self._raised:
            self._raised = True
            raise StopRequested(signal.Signals(signum).name)

    @contextmanager
    def _shielded(self) -> Iterator[None]:
        # An exception raised inside Popen after the fork would lose the new child's pid, and
        # with it the child; so a stop request waits until the child is recorded.
        self._shield_depth += 1
        try:
            yield
        finally:
            self._shield_depth -= 1
        if self._shield_depth == 0 and self.stop_requested and not self._raised:
            self._raised = True
            raise StopRequested("deferred")

    def add(self, child: Child) -> subprocess.Popen:
        """Start a child now. A first start that fails raises: a broken command should stop the
        run with its error, not retry forever."""
        with self._shielded():
            slot = _Slot(child)
            self._launch(slot)
            self.slots.append(slot)
            self._publish()
        assert slot.process is not None
        return slot.process

    def tick(self) -> None:
        """Notice children that died, restart those whose backoff is over, mark the ready."""
        with self._shielded():
            for slot in self.slots:
                now = time.monotonic()
                if slot.restart_at is not None:
                    if now >= slot.restart_at:
                        self._restart(slot, now)
                    continue
                assert slot.process is not None
                code = slot.process.poll()
                if code is not None:
                    self._died(slot, code, now)
                elif slot.state == "starting" and self._is_ready(slot):
                    slot.state = "up"
                    self._say_back(slot)
            self._publish()

    def run(self, seconds: float = math.inf, until: Callable[[], bool] | None = None) -> bool:
        """Supervise for up to `seconds`, or until `until()` is true; returns whether it is."""
        deadline = time.monotonic() + seconds
        while True:
            self.tick()
            if until is not None and until():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.interval)

    def down(self) -> list[str]:
        return [slot.child.name for slot in self.slots if slot.state != "up"]

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM every child's process group, SIGKILL what is left at the deadline."""
        self._raised = True  # from here on a signal only repeats the request
        if self.slots:
            self.log(f"Stopping {', '.join(s.child.name for s in reversed(self.slots))} ...")
        for group in ([s for s in reversed(self.slots) if not s.child.stop_last],
                      [s for s in reversed(self.slots) if s.child.stop_last]):
            running = [s for s in group if s.process is not None and s.process.poll() is None]
            for slot in running:
                _signal_group(slot.process.pid, signal.SIGTERM)
                _signal_group(slot.process.pid, signal.SIGCONT)  # a stopped process holds TERM
            deadline = time.monotonic() + timeout
            for slot in running:
                try:
                    slot.process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.log(f"{slot.child.name} did not stop within {timeout}s; killing it")
                    _signal_group(slot.process.pid, signal.SIGKILL)
                    slot.process.wait()
            for slot in group:
                if slot.process is not None:
                    _signal_group(slot.process.pid, signal.SIGKILL)  # what it forked and left
                slot.state, slot.restart_at = "down", None
        # SIGKILL is delivered, not awaited: give the killed a moment to be gone when this returns.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and any(
                _group_exists(s.process.pid) for s in self.slots if s.process is not None):
            time.sleep(0.01)
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)

    def _launch(self, slot: _Slot) -> None:
        slot.process = slot.child.start()
        slot.started_at = time.monotonic()
        slot.state = "starting" if slot.child.ready else "up"
        slot.restart_at = None

    def _died(self, slot: _Slot, code: int, now: float) -> None:
        assert slot.process is not None
        _signal_group(slot.process.pid, signal.SIGKILL)  # orphans would hold its port or queue
        if now - slot.started_at >= self.backoff.reset_after:
            slot.restarts = 0
        how = f"signal {-code}" if code < 0 else f"status {code}"
        self._schedule(slot, now, f"{slot.child.name} exited with {how}; restarting")

    def _restart(self, slot: _Slot, now: float) -> None:
        try:
            self._launch(slot)
        except Exception as exc:  # noqa: BLE001 - whatever stops it starting, try again later
            self._schedule(slot, now, f"{slot.child.name} could not start ({type(exc).__name__}: "
                                      f"{exc}); retrying")
            return
        if slot.state == "up":
            self._say_back(slot)

    def _say_back(self, slot: _Slot) -> None:
        if slot.restarts and slot.process is not None:
            self.log(f"{slot.child.name} is back (pid {slot.process.pid})")

    def _schedule(self, slot: _Slot, now: float, what: str) -> None:
        slot.restarts += 1
        delay = self.backoff.delay(slot.restarts)
        slot.state, slot.restart_at = "down", now + delay
        self.log(f"{what} in {delay:.1f}s (restart {slot.restarts})")

    def _is_ready(self, slot: _Slot) -> bool:
        assert slot.child.ready is not None and slot.process is not None
        try:
            return bool(slot.child.ready(slot.process))
        except Exception:  # noqa: BLE001 - cannot tell yet (its dependency may be restarting)
            return False

    def _publish(self) -> None:
        """Write the children's state for readyz, atomically: a reader sees one whole version."""
        if self.state_file is None:
            return
        state = {"supervisor_pid": os.getpid(), "children": {
            s.child.name: {"state": s.state, "pid": s.process.pid if s.process else None,
                           "restarts": s.restarts} for s in self.slots}}
        if state == self._published:
            return
        partial = self.state_file.with_name(f".{self.state_file.name}.{os.getpid()}")
        partial.write_text(json.dumps(state))
        os.replace(partial, self.state_file)
        self._published = state


def down_in(state_file: Path) -> list[str]:
    """The names a supervisor's state file reports as not up; "supervisor" when the file is gone
    or its writer died (nothing restarts the children then)."""
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return ["supervisor"]
    down = [name for name, child in state["children"].items() if child["state"] != "up"]
    try:
        os.kill(state["supervisor_pid"], 0)
    except ProcessLookupError:
        down.append("supervisor")
    except PermissionError:
        pass  # alive, under another user
    return down


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the group is empty already (or its id went to someone else's group)
