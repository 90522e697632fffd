"""Child side of ``sandbox.run_sandboxed``. Runs in a fresh interpreter, never in the worker.

Limits are applied before the target module is imported, so nothing vendor-controlled runs
without them. The outcome is written as JSON to the result file the parent named.
"""

from __future__ import annotations

import ctypes
import errno
import importlib
import json
import os
import resource
import signal
import socket
import sys
import traceback
from typing import Any

CLONE_NEWNET = 0x40000000
_OOM_MARKERS = ("can't allocate memory", "std::bad_alloc", "out of memory", "cannot allocate")


def main(spec_path: str) -> None:
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    _die_with_parent()
    _apply_limits(spec["limits"])
    isolated = _isolate_network()
    _block_python_sockets()
    meta: dict[str, Any] = {"network_isolated": isolated}
    try:
        module_name, _, func_name = spec["target"].rpartition(".")
        func = getattr(importlib.import_module(module_name), func_name)
        result = func(**spec["kwargs"])
        outcome: dict[str, Any] = {"ok": True, "result": result}
    except MemoryError:
        outcome = {"ok": False, "kind": "memory"}
    except BaseException as exc:  # the parent decides what each failure means
        outcome = _describe(exc)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    meta["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    meta["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    meta["peak_address_space_mb"] = _vm_peak_mb()  # what the RLIMIT_AS default is tuned on
    outcome["sandbox"] = meta
    tmp = spec["result"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(outcome, fh, default=str)
    os.replace(tmp, spec["result"])


def _vm_peak_mb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            line = next(x for x in fh if x.startswith("VmPeak:"))
        return round(int(line.split()[1]) / 1024, 1)
    except (OSError, StopIteration, ValueError):
        return None


def _describe(exc: BaseException) -> dict[str, Any]:
    to_dict = getattr(exc, "to_dict", None)
    if callable(to_dict) and hasattr(exc, "code"):  # a ModelCheckError raised on purpose
        return {"ok": False, "error": to_dict()}
    text = str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return {"ok": False, "kind": "file_size"}
    if any(m in text.lower() for m in _OOM_MARKERS):
        return {"ok": False, "kind": "memory"}
    return {
        "ok": False,
        "kind": "exception",
        "type": type(exc).__name__,
        "message": text[:2000],
        "traceback": traceback.format_exc()[-4000:],
    }


def _die_with_parent() -> None:
    """The child runs in its own session so timeouts can kill its whole group; that also
    means a worker killed with -9 would leave it running until its wall limit. Ask the
    kernel to SIGKILL us when the parent goes, and check it has not gone already."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent or parent == 1:
        os._exit(1)


def _apply_limits(limits: dict[str, int]) -> None:
    pairs = {
        resource.RLIMIT_AS: limits["address_space_bytes"],
        resource.RLIMIT_FSIZE: limits["file_size_bytes"],
        resource.RLIMIT_NOFILE: limits["open_files"],
        resource.RLIMIT_CORE: 0,
    }
    for which, value in pairs.items():
        resource.setrlimit(which, (value, value))
    # Soft CPU limit sends SIGXCPU; the hard one a second later is SIGKILL, in case it's caught.
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _isolate_network() -> bool:
    """Move into an empty network namespace (no interfaces, not even loopback) if allowed."""
    unshare = getattr(os, "unshare", None)  # Python 3.12+
    try:
        if unshare is not None:
            unshare(CLONE_NEWNET)
            return True
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.unshare(CLONE_NEWNET) == 0
    except (OSError, AttributeError):
        return False


class _NoNetworkSocket(socket.socket):
    def __init__(self, family: int = -1, type: int = -1, proto: int = -1, fileno: Any = None):
        if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6):
            raise PermissionError("network access is disabled inside the model sandbox")
        super().__init__(family, type, proto, fileno)


def _no_dns(*_args: Any, **_kwargs: Any) -> Any:
    raise PermissionError("network access is disabled inside the model sandbox")


def _block_python_sockets() -> None:
    # Second layer for hosts where unshare is refused; the namespace also covers C code.
    socket.socket = _NoNetworkSocket  # type: ignore[misc]
    socket.getaddrinfo = _no_dns  # type: ignore[assignment]
    socket.create_connection = _no_dns  # type: ignore[assignment]


if __name__ == "__main__":
    main(sys.argv[1])
