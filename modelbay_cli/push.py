"""`modelbay push <vendor>/<model> <folder-or-file> --version 1.2.0`: a resumable multipart upload.

Resuming keeps no local state: the session is asked for again with the same version and file list
(paths, sizes, SHA-256), the server answers with the open one (200 instead of 201) and its list of
parts present, and only the others are sent. Then `complete` creates the version and the pipeline
is followed to its parity card.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from modelbay_cli import files as local_files
from modelbay_cli.api import Api, error_from, split_model_name
from modelbay_cli.errors import CliError, Exit
from modelbay_cli.parts import PartSender, missing_parts, transfer_progress
from modelbay_cli.pipeline_view import follow, report

COMPLETE_TIMEOUT = 3600.0  # assembling and storing tens of GiB takes a while on the server
ANSWER_LOST = (502, 503, 504)  # what a proxy in front answers when it gave up waiting
MAX_LOST_ANSWERS = 20
POLL_SECONDS = 2.0
MiB = 2**20


@dataclass
class PushOptions:
    target: str
    source: Path
    version: str
    part_size: int | None = None
    jobs: int = 2
    wait: bool = True
    wait_timeout: float = 3600.0
    create: bool = False
    example_inputs: Path | None = None


def _check_vendor(api: Api, vendor: str) -> None:
    """The vendor API works inside the key's organization: a mismatch is a typo worth naming."""
    orgs = list(api.paged("/api/v1/orgs"))
    slugs = [org.get("slug") for org in orgs]
    if slugs and vendor not in slugs:
        raise CliError(f"This key belongs to '{slugs[0]}', not '{vendor}'; push to {slugs[0]}/<model> "
                       "or use a key of that organization.", exit_code=Exit.BAD_INPUT, code="wrong_vendor")


def _ensure_model(api: Api, slug: str, vendor: str, *, create: bool, out: Console) -> None:
    response = api.request("GET", f"/api/v1/vendor/models/{slug}", ok=(404,))
    if response.status_code != 404:
        return
    if not create:
        raise CliError(f"'{vendor}' has no model '{slug}'; create its listing in the vendor portal, or add "
                       "--create to create a private draft listing now.", exit_code=Exit.NOT_FOUND,
                       code="not_found", status=404)
    api.post("/api/v1/vendor/models", {"name": slug.replace("-", " ").title(), "slug": slug})
    out.print(f"Created the private draft listing {vendor}/{slug}.")


def _hash_all(found: list[local_files.LocalFile], err: Console) -> list[dict]:
    total = sum(f.size for f in found)
    with Progress(TextColumn("hashing"), BarColumn(), DownloadColumn(binary_units=True), TransferSpeedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("hashing", total=total)
        return [{"path": f.path, "size": f.size,
                 "sha256": local_files.sha256_of(f.local, lambda n: progress.advance(task, n))} for f in found]


def _example_inputs(path: Path) -> dict:
    """What the parity check feeds both models: {"input name": nested list}, from a JSON file."""
    try:
        parsed = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CliError(f"--example-inputs: cannot read {path} as JSON ({exc}).", exit_code=Exit.BAD_INPUT,
                       code="invalid_input") from exc
    if not isinstance(parsed, dict):
        raise CliError('--example-inputs must hold a JSON object like {"input": [[0.1, 0.2]]}.',
                       exit_code=Exit.BAD_INPUT, code="invalid_input")
    return parsed


def _open_session(api: Api, slug: str, opts: PushOptions, declared: list[dict], out: Console) -> dict:
    body: dict = {"version": opts.version, "files": declared}
    if opts.part_size:
        body["part_size"] = opts.part_size
    if opts.example_inputs is not None:
        body["example_inputs"] = _example_inputs(opts.example_inputs)
    response = api.post(f"/api/v1/vendor/models/{slug}/uploads", body)
    session = response.json()
    if response.status_code == 200:
        out.print(f"Resuming upload {session['id']} (opened before with the same files).")
    else:
        out.print(f"Upload {session['id']}: {len(declared)} file(s), {session['total_size'] / MiB:.1f} MiB "
                  f"in parts of {session['part_size'] / MiB:g} MiB.")
    return session


def _send(api: Api, session: dict, by_path: dict[str, Path], opts: PushOptions, out: Console,
          err: Console) -> tuple[int, int]:
    parts, present = missing_parts(session, by_path)
    total = len(parts) + present
    out.print(f"Skipped {present} of {total} parts already on the server; sending {len(parts)}.")
    if not parts:
        return 0, 0
    started = time.monotonic()
    with transfer_progress(err) as progress:
        sender = PartSender(api, session, jobs=opts.jobs, progress=progress)
        sender.send_all(parts)
    seconds = time.monotonic() - started
    out.print(f"Sent {sender.sent_parts} parts ({sender.sent_bytes / MiB:.1f} MiB) in {seconds:.1f} s "
              f"({sender.sent_bytes / MiB / max(seconds, 1e-6):.1f} MiB/s).")
    return sender.sent_parts, sender.sent_bytes


def _complete(api: Api, session: dict, by_path: dict[str, Path], opts: PushOptions, out: Console,
              err: Console) -> dict:
    """`complete`; if the server still misses parts (one was lost in between), send them once more.

    Assembling tens of GiB outlasts the read timeout of many proxies, so the answer may be lost
    (502/503/504, or the connection dropped) while the server carries on. Then wait while the
    session says it is completing and ask again: a repeated `complete` answers as the first one
    did, with the same version or the same refusal."""
    path = f"/api/v1/vendor/uploads/{session['id']}"
    deadline = time.monotonic() + COMPLETE_TIMEOUT
    resent, lost = False, 0
    out.print("Completing the upload (the server assembles and checks the files)...")
    while True:
        response = _complete_once(api, path, timeout=max(1.0, deadline - time.monotonic()))
        code = response.json().get("error", {}).get("code") if response is not None and response.status_code == 409 else None
        if response is None or response.status_code in ANSWER_LOST or code == "upload_completing":
            lost += 1
            if lost > MAX_LOST_ANSWERS:
                raise CliError(f"The answer to complete was lost {lost} times; check the upload with GET {path} "
                               "and run the push again.", exit_code=Exit.SERVER, code="complete_lost")  # fmt: skip
            out.print(f"Waiting for the server to finish the upload ({_why_waiting(response, code)})...")
            _wait_while_completing(api, path, deadline)
            continue
        if response.status_code != 409:
            return response.json()
        if code != "upload_incomplete" or resent:
            raise error_from(response)
        _send(api, api.get(path), by_path, opts, out, err)
        resent = True


def _complete_once(api: Api, path: str, *, timeout: float):
    """One POST of `complete`; None when the connection dropped before an answer came."""
    try:
        return api.request("POST", f"{path}/complete", timeout=timeout, ok=(409, *ANSWER_LOST))
    except CliError as exc:
        if exc.code == "unreachable":
            return None
        raise


def _why_waiting(response, code: str | None) -> str:
    if code == "upload_completing":
        return "it is still assembling"
    return f"the answer was lost: {f'HTTP {response.status_code}' if response is not None else 'the connection dropped'}"


def _wait_while_completing(api: Api, path: str, deadline: float) -> None:
    """Polls the session every POLL_SECONDS until no `complete` is assembling it (sleeping first,
    so a proxy that keeps failing at once is not asked again in a tight loop)."""
    while True:
        time.sleep(POLL_SECONDS)
        if not api.get(path).get("completing"):
            return
        if time.monotonic() > deadline:
            raise CliError(f"The server was still assembling the upload after {COMPLETE_TIMEOUT:.0f} s; run the "
                           "push again later to get its version.", exit_code=Exit.SERVER, code="timeout")  # fmt: skip


def push(api: Api, opts: PushOptions, out: Console, err: Console) -> Exit:
    vendor, slug = split_model_name(opts.target)
    found = local_files.collect(opts.source)  # local problems first: before any request
    _check_vendor(api, vendor)
    _ensure_model(api, slug, vendor, create=opts.create, out=out)
    out.print(f"Hashing {len(found)} file(s), {sum(f.size for f in found) / MiB:.1f} MiB...")
    declared = _hash_all(found, err)
    session = _open_session(api, slug, opts, declared, out)
    by_path = {f.path: f.local for f in found}
    _send(api, session, by_path, opts, out, err)
    version = _complete(api, session, by_path, opts, out, err)
    out.print(f"Version {version.get('version')} received ({version.get('status')}); "
              f"source {version.get('source_format') or '?'}, sha256 {str(version.get('source_sha256'))[:12]}...")
    if not opts.wait:
        out.print("Not waiting for the pipeline (--no-wait); follow it in the vendor portal.")
        return Exit.OK
    out.print("Pipeline:")
    final = follow(api, slug, opts.version, out, timeout=opts.wait_timeout)
    report(final, f"{vendor}/{slug}", out)
    return Exit.OK
