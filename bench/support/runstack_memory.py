"""Resident memory of `make run`'s stack by role (web, converter, inference worker, beat), read from
/proc: sampled peaks while something runs, or what each role holds now. bench/large_upload.py
watches the stack with it while a push runs."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.e2e.test_run_stack import processes_of

ROLES = {"web": "gunicorn", "convert-worker": "convert@", "infer-worker": "infer@", "beat": " beat "}


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


class MemorySampler(threading.Thread):
    """Peak RSS per role (the largest process, and the role's processes together) every 0.2 s."""

    def __init__(self, var_dir: Path, extra: dict[str, int] | None = None) -> None:
        super().__init__(daemon=True)
        self.var_dir, self.extra = var_dir, extra or {}
        self.peak: dict[str, dict[str, float]] = {}
        self.stopping = threading.Event()

    def roles(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {role: [] for role in ROLES}
        for pid, cmdline in processes_of(self.var_dir).items():
            for role, marker in ROLES.items():
                if marker in f" {cmdline} ":
                    found[role].append(pid)
        for role, pid in self.extra.items():
            found[role] = [pid]
        return found

    def run(self) -> None:
        while not self.stopping.is_set():
            for role, pids in self.roles().items():
                rss = [_status_kib(pid, "VmRSS") / 1024 for pid in pids]
                entry = self.peak.setdefault(role, {"largest_process_mib": 0.0, "all_processes_mib": 0.0})
                entry["largest_process_mib"] = round(max([entry["largest_process_mib"], *rss]), 1)
                entry["all_processes_mib"] = round(max(entry["all_processes_mib"], sum(rss)), 1)
            self.stopping.wait(0.2)

    def stop(self) -> dict[str, dict[str, float]]:
        self.stopping.set()
        self.join()
        return self.peak


def resident(var_dir: Path) -> dict[str, float]:
    roles = MemorySampler(var_dir).roles()
    return {role: round(sum(_status_kib(p, "VmRSS") for p in pids) / 1024, 1) for role, pids in roles.items()}
