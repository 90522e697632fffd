"""Exit codes by failure class, and the one error the commands raise.

The server's error body names a code (`{"error": {"code", "message", "details"}}`); the CLI prints
it with the message and exits with the code of its class, so scripts can tell a bad key from a
missing model from a server that is down.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Exit(IntEnum):
    OK = 0
    UNEXPECTED = 1  # a bug in the client: please report it
    USAGE = 2  # bad command line (argparse's own code)
    AUTH = 3  # no key, bad/revoked key (401), key without the scope or not allowed (403)
    NOT_FOUND = 4  # 404: no such model, version or upload (another organization's is a 404 too)
    BAD_INPUT = 5  # 400/409/413/422, or a local file that cannot be read or parsed
    SERVER = 6  # 5xx, server unreachable, timed out
    PIPELINE_FAILED = 7  # the pushed version failed a pipeline stage (the stage and reason are printed)
    LIMITED = 8  # 402/429: payment required, quota or spend cap reached, rate limited
    INTERRUPTED = 130  # Ctrl-C


EXIT_HELP = """exit codes:
  0  ok
  1  unexpected error in the client
  2  bad command line
  3  authentication: no key, bad or revoked key, or a key without the scope needed
  4  not found (a model, version or upload; another organization's is not found too)
  5  bad input (refused by the server with 400/409/413/422, or a local file problem)
  6  server error or server unreachable
  7  the pushed version failed the conversion pipeline
  8  payment required, quota or rate limit reached"""


def exit_for_status(status: int) -> Exit:
    if status in (401, 403):
        return Exit.AUTH
    if status == 404:
        return Exit.NOT_FOUND
    if status in (402, 429):
        return Exit.LIMITED
    if status >= 500:
        return Exit.SERVER
    return Exit.BAD_INPUT


class CliError(Exception):
    """Something the user can act on; `main` prints it and exits with `exit_code`."""

    def __init__(self, message: str, *, exit_code: Exit, code: str = "", status: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.code = code
        self.status = status
        self.details = details or {}

    def __str__(self) -> str:
        where = ", ".join(p for p in (self.code, f"HTTP {self.status}" if self.status else "") if p)
        return f"{self.message} [{where}]" if where else self.message
