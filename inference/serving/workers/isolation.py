"""Runs of suspect versions, each in an isolated child of this worker (see quarantine.py).

One child per suspect version, started on its first run and kept while the version is suspect;
a child that dies mid-run is the evidence `quarantine.version_crash_record` counts, and the next
run starts a fresh one. Cleared versions have their child stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from os import PathLike
from typing import Any

from inference.runtime.isolated import IsolatedCrash, IsolatedError, IsolatedRunner, IsolatedTimeout
from inference.serving.workers import quarantine

log = logging.getLogger(__name__)


class Isolation:
    def __init__(self, *, load: Callable[[int, str], AbstractContextManager[PathLike]], threads: int) -> None:
        self._load = load
        self._threads = threads
        self._runners: dict[int, IsolatedRunner] = {}
        self._lock = threading.Lock()

    def _runner(self, version_id: int, sha: str) -> IsolatedRunner:
        with self._lock:
            runner = self._runners.get(version_id)
            if runner is None:
                # The model is decrypted at each start of the child, only while the child loads it.
                runner = IsolatedRunner(lambda: self._load(version_id, sha), threads=self._threads)
                self._runners[version_id] = runner
            return runner

    def run(self, message: dict, *, timeout: float) -> dict[str, Any]:
        """A worker result dict for one request of a suspect version."""
        version_id = message["v"]
        runner = self._runner(version_id, message["sha"])
        try:
            outputs, run_ms = runner.run(message["in"], message.get("out") or None, timeout=timeout)
        except IsolatedCrash as crash:
            evidence = f"isolated runtime died with {crash.signal_name or crash.returncode}"
            quarantine.version_crash_record(version_id=version_id, evidence=evidence)
            return {"status": 500, "code": "runtime_crash",
                    "error": "the model crashed the inference runtime on this request; it was not retried "
                             "and you were not billed"}
        except IsolatedTimeout:
            return {"status": 504, "code": "inference_timeout",
                    "error": "the model did not finish in time; you were not billed"}
        except IsolatedError as error:
            if error.kind in ("InvalidArgument", "TensorError"):
                return {"status": 400, "code": "invalid_input",
                        "error": f"the model rejected the input ({error.kind}); check shapes and values"}
            return {"status": 500, "code": "runtime_error",
                    "error": f"the model failed to run ({error.kind}); you were not billed"}
        if quarantine.probation_pass(version_id=version_id):
            self.drop(version_id)
        return {"status": 200, "outputs": outputs, "run_ms": run_ms}

    def drop(self, version_id: int) -> None:
        with self._lock:
            runner = self._runners.pop(version_id, None)
        if runner is not None:
            runner.close()

    def close(self) -> None:
        for version_id in list(self._runners):
            self.drop(version_id)
