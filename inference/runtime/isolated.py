"""Run one model's requests in a child process of their own, so that a run that kills the
runtime (a segfault in a kernel, an abort) kills only the child.

The inference worker uses this for a *suspect* version: one that was in flight when a worker
died. A worker death alone says nothing about which model caused it (an operator's kill -9, the
OOM killer, a bug elsewhere); a child that dies while running exactly one request of exactly one
version does. That is the evidence `quarantine` counts.

The child is a fresh interpreter (`python -I`), never a fork of the threaded worker. Frames on
its stdin/stdout are a 4-byte big-endian length and a JSON object; tensors travel in the
project's own packed form (tensors.pack: base64 of raw bytes, never a pickle):

    parent -> child   {"op": "load", "path": ..., "threads": n}        -> {"ok": true}
    parent -> child   {"op": "run", "in": packed, "out": [names]}       -> {"ok": true, "outputs": packed, "run_ms": x}
    errors                                                               -> {"ok": false, "error": "TypeName"}

The model is a path the child opens itself (never its bytes through the pipe, which would hold
the model in the worker's memory, base64-inflated, for as long as the child lives). `model` is a
path, or a callable that answers a context manager yielding one: it is entered for every (re)start
of the child and left once the child has created its session, so a decrypted temporary file only
lives while it is read. The model is already decrypted and was checked by the conversion pipeline.
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

ModelSource = str | os.PathLike | Callable[[], AbstractContextManager[str | os.PathLike]]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from inference.runtime.isolated import child_main; child_main()"


class IsolatedCrash(Exception):
    """The child died while running a request: evidence against the model."""

    def __init__(self, returncode: int | None) -> None:
        self.returncode = returncode
        self.signal_name = signal.Signals(-returncode).name if returncode and returncode < 0 else None
        super().__init__(f"the isolated runtime died ({self.signal_name or f'exit {returncode}'})")


class IsolatedTimeout(Exception):
    """The child did not answer in time; it was killed (not counted as a crash)."""


class IsolatedError(Exception):
    """The run raised inside the child; the child is alive. `kind` is the exception type name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(kind)


def _write_frame(stream, obj: dict[str, Any]) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode()
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def _read_exact(stream, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream) -> dict[str, Any]:
    (length,) = struct.unpack(">I", _read_exact(stream, 4))
    return json.loads(_read_exact(stream, length))


class IsolatedRunner:
    """One child process serving one model, one request at a time (runs are serialized: the
    evidence is only clean when the child runs a single request)."""

    def __init__(self, model: ModelSource, *, threads: int = 1, python: str = sys.executable) -> None:
        self._lock = threading.Lock()
        self._model = model
        self._threads = threads
        self._python = python
        self._child: subprocess.Popen | None = None
        self.pid: int | None = None

    def _start(self, timeout: float) -> None:
        model = self._model
        # Entered before the child starts, so a model that cannot be had starts no child.
        with model() if callable(model) else nullcontext(model) as path:
            # Rebuilt environment: no secrets, no broker URLs reach the child.
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_NUM_THREADS": str(self._threads)}
            self._child = subprocess.Popen(
                [self._python, "-I", "-c", _BOOT, str(PROJECT_ROOT)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                start_new_session=True,
            )
            self.pid = self._child.pid
            self._exchange({"op": "load", "path": os.fspath(path), "threads": self._threads}, timeout)

    def run(self, packed_inputs: dict[str, Any], output_names: list[str] | None, *,
            timeout: float) -> tuple[dict[str, Any], float]:
        """Packed outputs and the child's run time in ms. Raises IsolatedCrash when the child
        died during this request, IsolatedTimeout when it took longer than `timeout`."""
        with self._lock:
            if self._child is None or self._child.poll() is not None:
                self._start(timeout)
            reply = self._exchange({"op": "run", "in": packed_inputs, "out": output_names}, timeout)
            return reply["outputs"], float(reply["run_ms"])

    def _exchange(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        child = self._child
        assert child is not None and child.stdin is not None and child.stdout is not None
        try:
            _write_frame(child.stdin, request)
            ready, _, _ = select.select([child.stdout], [], [], timeout)
            if not ready:
                self._kill()
                raise IsolatedTimeout(f"no answer within {timeout:g}s")
            reply = _read_frame(child.stdout)
        except (EOFError, BrokenPipeError, OSError) as exc:
            returncode = child.wait()
            self._child = None
            raise IsolatedCrash(returncode) from exc
        if not reply.get("ok"):
            raise IsolatedError(str(reply.get("error", "Error")))
        return reply

    def _kill(self) -> None:
        if self._child is not None and self._child.poll() is None:
            os.killpg(self._child.pid, signal.SIGKILL)
            self._child.wait()
        self._child = None

    def close(self) -> None:
        with self._lock:
            self._kill()


# ------------------------------------------------------------------ the child

def child_main() -> None:
    import numpy as np
    import onnxruntime as ort

    from inference.runtime.tensors import pack, unpack

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    session: ort.InferenceSession | None = None
    while True:
        try:
            request = _read_frame(stdin)
        except EOFError:
            return
        try:
            if request["op"] == "load":
                options = ort.SessionOptions()
                options.intra_op_num_threads = int(request.get("threads") or 1)
                options.inter_op_num_threads = 1
                session = ort.InferenceSession(request["path"], options,
                                               providers=["CPUExecutionProvider"])
                _write_frame(stdout, {"ok": True})
                continue
            assert session is not None, "run before load"
            inputs = {name: _ort_value(array) for name, array in unpack(request["in"]).items()}
            names = request.get("out") or [o.name for o in session.get_outputs()]
            started = time.perf_counter()
            outputs = session.run(names, inputs)
            run_ms = (time.perf_counter() - started) * 1000
            _write_frame(stdout, {"ok": True, "run_ms": run_ms,
                                  "outputs": pack(dict(zip(names, [np.asarray(o) for o in outputs], strict=True)))})
        except Exception as exc:  # noqa: BLE001 - the type only: messages may quote tensor values
            _write_frame(stdout, {"ok": False, "error": type(exc).__name__})


def _ort_value(array):
    import numpy as np

    if array.dtype != object:  # ORT string tensors want str, the wire carries bytes
        return array
    return np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else b, otypes=[object])(array)
