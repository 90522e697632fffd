"""Sending an upload session's missing parts, a few at a time, each with its SHA-256 so the server
keeps only intact bytes; a part that fails for a passing reason (connection, 5xx, 429, a hash
mismatch in transit) is sent again with a backoff."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from modelbay_cli.api import Api
from modelbay_cli.errors import CliError, Exit
from modelbay_cli.files import read_part

ATTEMPTS = 5
PART_TIMEOUT = 600.0


@dataclass(frozen=True)
class Part:
    file_index: int
    number: int
    local: Path


def missing_parts(session: dict, locals_by_path: dict[str, Path]) -> tuple[list[Part], int]:
    """The parts the server does not have, and how many it has."""
    missing, present = [], 0
    for entry in session["files"]:
        have = set(entry.get("present", []))
        present += len(have)
        missing += [Part(entry["index"], n, locals_by_path[entry["path"]])
                    for n in range(entry["parts"]) if n not in have]
    return missing, present


def _retryable(error: CliError) -> bool:
    return error.exit_code in (Exit.SERVER, Exit.LIMITED) or error.code == "part_hash_mismatch"


class PartSender:
    def __init__(self, api: Api, session: dict, *, jobs: int, progress: Progress) -> None:
        self.api, self.session, self.jobs, self.progress = api, session, jobs, progress
        self.part_size = int(session["part_size"])
        self.task = progress.add_task("uploading", total=session["total_size"],
                                      completed=session.get("bytes_received", 0))
        self._local = threading.local()
        self.sent_parts = self.sent_bytes = 0
        self._lock = threading.Lock()

    def _api(self) -> Api:
        # requests.Session is not meant to be shared between threads: one per sender thread.
        if not hasattr(self._local, "api"):
            self._local.api = Api(self.api.url, None)
            self._local.api.session.headers.update(self.api.session.headers)
        return self._local.api

    def send(self, part: Part) -> None:
        data = read_part(part.local, part.number, self.part_size)
        digest = hashlib.sha256(data).hexdigest()
        path = f"/api/v1/vendor/uploads/{self.session['id']}/files/{part.file_index}/parts/{part.number}"
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self._api().request("PUT", path, data=data, timeout=PART_TIMEOUT, headers={
                    "Content-Type": "application/octet-stream", "X-Part-SHA256": digest})
                break
            except CliError as error:
                if attempt == ATTEMPTS or not _retryable(error):
                    raise
                time.sleep(min(2 ** (attempt - 1), 15))
        with self._lock:
            self.sent_parts += 1
            self.sent_bytes += len(data)
        self.progress.advance(self.task, len(data))

    def send_all(self, parts: list[Part]) -> None:
        pool = ThreadPoolExecutor(max_workers=max(1, self.jobs), thread_name_prefix="part")
        try:
            futures = [pool.submit(self.send, part) for part in parts]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                if future.exception() is not None:
                    raise future.exception()
        finally:
            # On an error or Ctrl-C, parts not started are dropped; those in flight finish (they
            # are kept by the server, so the next run skips them).
            pool.shutdown(wait=True, cancel_futures=True)


def transfer_progress(console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=False)
