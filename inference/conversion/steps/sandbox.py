"""Run a step that opens vendor bytes in a fresh, limited child process.

The child is a new interpreter (``python -I -c``), never a fork of the Celery worker: it
inherits no sockets, no broker connection and no secrets (the environment is rebuilt from
scratch). It gets address-space, CPU, file-size and open-file limits, a wall-clock timeout
that kills its whole process group, a private cwd/TMPDIR, and an empty network namespace
where the host allows one. Whatever the child does, the parent gets a dict or a
``ModelCheckError``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .errors import ConversionFailed, ModelCheckError, SandboxLimit

# The conversion steps, and the runtime's own checks a conversion runs (tokenizer.check).
ALLOWED_PREFIXES = ("inference.conversion.steps.", "inference.runtime.")
PROJECT_ROOT = Path(__file__).resolve().parents[3]
MAX_RESULT_BYTES = 16 * 2**20
_BOOT = "import sys; sys.path.insert(0, sys.argv[2]); " \
    "from inference.conversion.steps._sandbox_child import main; main(sys.argv[1])"


@dataclass(frozen=True)
class Limits:
    """Per-child limits. Defaults fit converting a ~1 GB transformer on CPU; torch alone
    maps ~1 GiB of address space at import, so the address-space cap cannot be tiny."""

    address_space_bytes: int = 12 * 2**30
    cpu_seconds: int = 1800
    wall_seconds: float = 1800.0
    file_size_bytes: int = 8 * 2**30
    open_files: int = 1024
    threads: int = 2

    def but(self, **changes: Any) -> Limits:
        return replace(self, **changes)


def run_sandboxed(
    target: str,
    kwargs: dict[str, Any],
    *,
    limits: Limits | None = None,
    workdir: str | Path,
    allow_prefixes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Call ``target(**kwargs)`` (a dotted path) in a sandboxed child; return its dict with a
    ``"sandbox"`` entry added (network_isolated, peak_rss_mb, cpu_seconds, wall_seconds).

    Targets must live in ``inference.conversion.steps`` or ``inference.runtime``;
    tests may widen that with ``allow_prefixes``.
    """
    limits = limits or Limits()
    if not target.startswith((*ALLOWED_PREFIXES, *allow_prefixes)) or target.count(".") < 1:
        raise ValueError(f"sandbox target {target!r} is not allowed")
    workdir = Path(workdir).resolve()
    private = workdir / ".sandbox"
    tmp = workdir / "tmp"
    private.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(exist_ok=True)
    run_id = uuid.uuid4().hex[:12]
    result_path = private / f"result-{run_id}.json"
    spec_path = private / f"spec-{run_id}.json"
    log_path = private / f"log-{run_id}.txt"
    spec_path.write_text(
        json.dumps(
            {"target": target, "kwargs": kwargs, "limits": asdict(limits),
             "result": str(result_path)}  # fmt: skip
        )
    )
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, str(spec_path), str(PROJECT_ROOT)],
            cwd=workdir,
            env=_child_env(workdir, tmp, limits),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # own process group: the timeout kills grandchildren too
            close_fds=True,
        )
        status, cpu_used, timed_out = _wait(proc, limits.wall_seconds)
    wall = round(time.monotonic() - started, 2)
    outcome = _read_result(result_path)
    details = {"wall_seconds": wall, "cpu_seconds": round(cpu_used, 2),
               "log_tail": _tail(log_path)}  # fmt: skip
    if timed_out:
        raise SandboxLimit(
            f"the step took longer than {limits.wall_seconds:.0f} seconds and was stopped",
            details=details,
        )
    if outcome is None:
        raise _no_result(status, cpu_used, limits, details)
    meta = dict(outcome.get("sandbox") or {}, wall_seconds=wall)
    if outcome.get("ok") is True and isinstance(outcome.get("result"), dict):
        return dict(outcome["result"], sandbox=meta)
    details.update(meta)
    raise _failure(outcome, limits, details)


def _child_env(workdir: Path, tmp: Path, limits: Limits) -> dict[str, str]:
    threads = str(limits.threads)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MALLOC_ARENA_MAX": "2",  # fewer malloc arenas: less address space reserved per thread
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(tmp / "hf"),
        "TORCHINDUCTOR_CACHE_DIR": str(tmp / "inductor"),
        "TRITON_CACHE_DIR": str(tmp / "triton"),
        "TORCH_HOME": str(tmp / "torch"),
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "NO_PROXY": "*",
    }


def _wait(proc: subprocess.Popen, wall_seconds: float) -> tuple[int, float, bool]:
    """Wait with a deadline, then kill the child's whole process group and reap the child.

    The exit is noticed with WNOWAIT so the zombie keeps its pid (= the group id) reserved
    while we kill leftovers: the group id cannot have been reused by then. wait4 also gives
    the child's CPU time for the error message.
    """
    deadline = time.monotonic() + wall_seconds
    delay = 0.01
    timed_out = False
    try:
        while os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
    finally:
        _kill_group(proc.pid)  # grandchildren never outlive the step, even if we are interrupted
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime, timed_out


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > MAX_RESULT_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _gib(n: int) -> str:
    return f"{n / 2**30:g} GiB" if n >= 2**30 else f"{n / 2**20:g} MiB"


def _no_result(status: int, cpu: float, limits: Limits, details: dict) -> ModelCheckError:
    details["exit_status"] = status
    if status < 0:
        sig = -status
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        details["signal"] = name
        if sig in (signal.SIGXCPU, signal.SIGKILL) and cpu >= limits.cpu_seconds - 0.5:
            return SandboxLimit(
                f"the step used more than {limits.cpu_seconds} CPU seconds and was stopped",
                details=details,
            )
        if sig == signal.SIGXFSZ:
            return SandboxLimit(_file_msg(limits), details=details)
        hint = {signal.SIGABRT: " (often a failed memory allocation)",
                signal.SIGKILL: " (often the host's out-of-memory killer)"}.get(sig, "")  # fmt: skip
        return SandboxLimit(f"the step crashed: killed by signal {sig} ({name}){hint}",
                            details=details)  # fmt: skip
    return ConversionFailed(
        f"the step exited with status {status} without a result", details=details
    )


def _file_msg(limits: Limits) -> str:
    return f"the step tried to write a file larger than {_gib(limits.file_size_bytes)}"


def _failure(outcome: dict[str, Any], limits: Limits, details: dict) -> ModelCheckError:
    if isinstance(outcome.get("error"), dict):
        err = ModelCheckError.from_dict(outcome["error"])
        err.details.setdefault("sandbox", details)
        return err
    kind = outcome.get("kind")
    if outcome.get("ok") is True:
        return ConversionFailed("the step returned something other than a dict", details=details)
    if kind == "memory":
        return SandboxLimit(
            f"the step used more than {_gib(limits.address_space_bytes)} of memory",
            details=dict(details, limit="memory"),
        )
    if kind == "file_size":
        return SandboxLimit(_file_msg(limits), details=dict(details, limit="file_size"))
    details.update({k: outcome.get(k) for k in ("type", "message", "traceback")})
    return ConversionFailed(
        f"{outcome.get('type', 'error')}: {str(outcome.get('message', ''))[:500]}",
        details=details,
    )


def _tail(path: Path, size: int = 2000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
