"""Writes on resumable multipart uploads: open (or resume) a session, receive a part, cancel,
expire. Completing it lives in upload_complete.py.

A session declares every file of the version (path, size, SHA-256) up front; parts of
`part_size` bytes (a file's last part shorter) arrive in any order and in parallel, each checked
against its own SHA-256 before it is kept. Re-opening with the identical file list resumes the
open session, so a client that was killed needs no local state.
"""

import hashlib
import math
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict, InvalidInput, PayloadTooLarge
from marketplace.models import Model, UploadPart, UploadSession
from marketplace.services.versions import next_version, scan_cap_check, version_check_new
from marketplace.upload_store import part_store, scratch_file, seal_part, sealed_size

MAX_FILES = 1000
MAX_PARTS_PER_FILE = 10_000  # S3's limit, kept on local disk too so a session works on either
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class UploadClosed(Conflict):
    code = "upload_closed"


def upload_session_open(
    *, model: Model, files: list[dict[str, Any]], version: str | None = None, part_size: int | None = None,
    example_inputs: dict | None = None,
) -> tuple[UploadSession, bool]:
    """The open session for this version and file list: (session, created)."""
    declared = _checked_files(files)
    part_size = _checked_part_size(part_size, declared)
    version = version or next_version(model=model)
    version_check_new(model=model, version=version)
    for _attempt in range(2):
        existing = UploadSession.objects.filter(model=model, version=version, status=UploadSession.Status.OPEN).first()
        if existing is not None and existing.expires_at <= timezone.now():
            upload_session_expire(session=existing)
            existing = None
        if existing is not None:
            if existing.files != declared:
                raise Conflict(
                    f"An upload of version {version} with other files is open; finish it, or cancel it with "
                    f"DELETE /api/v1/vendor/uploads/{existing.id} and start again.",
                    code="upload_exists", details={"upload_id": str(existing.id)},
                )  # fmt: skip
            _touch(existing)
            return existing, False
        session = UploadSession(
            organization=model.organization, model=model, version=version, part_size=part_size, files=declared,
            total_size=sum(f["size"] for f in declared), example_inputs=example_inputs, expires_at=_expiry(),
        )  # fmt: skip
        try:
            with transaction.atomic():
                session.save(force_insert=True)
        except IntegrityError:
            continue  # a concurrent request opened it first: resume theirs
        try:
            session.store_state = part_store().begin(session)
        except Exception:
            session.delete()  # storage refused: no session that could never take a part
            raise
        session.save(update_fields=["store_state"])
        return session, True
    raise Conflict("Another upload of this version was opened at the same moment; retry.", code="upload_exists")


def upload_part_receive(
    *, session: UploadSession, file_index: int, number: int, body: IO[bytes], length: int | None, sha256: str,
) -> UploadPart:
    """Seal the part to disk while hashing it; keep it only when its size and SHA-256 match."""
    _require_open(session)
    if not 0 <= file_index < len(session.files):
        raise InvalidInput(f"This upload has files 0 to {len(session.files) - 1}; there is no file {file_index}.",
                           code="file_out_of_range")  # fmt: skip
    spec = session.files[file_index]
    parts = part_count(spec["size"], session.part_size)
    if not 0 <= number < parts:
        raise InvalidInput(f"File {file_index} ({spec['path']}) has parts 0 to {parts - 1}; there is no part {number}.",
                           code="part_out_of_range", details={"parts": parts})  # fmt: skip
    sha256 = (sha256 or "").strip().lower()
    if not _SHA256.match(sha256):
        raise InvalidInput("Send the part's SHA-256 as 64 hex digits in the X-Part-SHA256 header.",
                           code="part_hash_missing")  # fmt: skip
    if length is not None and length > settings.MODELBAY_UPLOAD_MAX_PART_BYTES:
        raise PayloadTooLarge(f"A part may carry at most {settings.MODELBAY_UPLOAD_MAX_PART_BYTES} bytes.",
                              details={"max_part_bytes": settings.MODELBAY_UPLOAD_MAX_PART_BYTES})  # fmt: skip
    expected = min(session.part_size, spec["size"] - number * session.part_size)
    if length != expected:
        raise InvalidInput(f"Part {number} of {spec['path']} must be exactly {expected} bytes (with Content-Length); "
                           f"got {length}.", code="part_size_mismatch", details={"expected_size": expected})  # fmt: skip
    digest = hashlib.sha256()
    sealed = scratch_file("mb-part-")
    try:
        with sealed:
            received = seal_part(session=session, file_index=file_index, number=number, source=body,
                                 size=expected, out=sealed, digest=digest)  # fmt: skip
        if received != expected:
            raise InvalidInput(f"The body ended after {received} of {expected} bytes; re-send part {number}.",
                               code="part_size_mismatch", details={"expected_size": expected})  # fmt: skip
        if digest.hexdigest() != sha256:
            raise InvalidInput(
                f"Part {number} of {spec['path']} does not match its SHA-256; nothing was kept, re-send it.",
                code="part_hash_mismatch", details={"declared": sha256, "received": digest.hexdigest()},
            )  # fmt: skip
        try:
            etag = part_store().put(session, file_index, number, Path(sealed.name))
        except Exception:
            _require_still_open(session)  # cancelled or expired meanwhile (S3 refuses an aborted upload)
            raise
    finally:
        Path(sealed.name).unlink(missing_ok=True)
    part, _ = UploadPart.objects.update_or_create(
        session=session, file_index=file_index, number=number,
        defaults={"size": expected, "sha256": sha256, "etag": etag, "stored_size": sealed_size(expected)},
    )  # fmt: skip
    try:
        _require_still_open(session)
    except UploadClosed:
        parts_delete(session=session)  # it closed while this part arrived: leave nothing behind
        raise
    _touch(session)
    return part


def upload_session_cancel(*, session: UploadSession) -> None:
    _close(session, UploadSession.Status.CANCELLED, from_statuses=[UploadSession.Status.OPEN])


def upload_session_expire(*, session: UploadSession) -> bool:
    """Expire one session whose time is up (unless a `complete` is assembling it); True if it did."""
    return _close(session, UploadSession.Status.EXPIRED, from_statuses=[UploadSession.Status.OPEN],
                  only=Q(expires_at__lte=timezone.now()) & not_completing())  # fmt: skip


def uploads_expire() -> int:
    """Beat: expire every session past its time and delete its parts; the number expired."""
    due = UploadSession.objects.filter(status=UploadSession.Status.OPEN, expires_at__lte=timezone.now())
    return sum(upload_session_expire(session=session) for session in due.filter(not_completing()))


def part_count(size: int, part_size: int) -> int:
    return math.ceil(size / part_size)


def _close(session: UploadSession, status: str, *, from_statuses: list[str], only: Q | None = None) -> bool:
    """Move to a final status (conditionally, so two closers do not both act), then delete parts."""
    closing = UploadSession.objects.filter(pk=session.pk, status__in=from_statuses).filter(only or Q())
    if not closing.update(status=status, updated_at=timezone.now()):
        return False
    session.status = status
    parts_delete(session=session)
    return True


def parts_delete(*, session: UploadSession) -> None:
    part_store().delete(session)
    UploadPart.objects.filter(session=session).delete()


def _require_open(session: UploadSession) -> None:
    if session.status != UploadSession.Status.OPEN:
        raise UploadClosed(f"This upload is {session.status}; open a new one with POST "
                           f"/api/v1/vendor/models/{session.model.slug}/uploads.")  # fmt: skip
    if is_completing(session):
        raise Conflict(f"This upload is being completed; poll GET /api/v1/vendor/uploads/{session.id} for its status.",
                       code="upload_completing")  # fmt: skip


def _require_still_open(session: UploadSession) -> None:
    """The same check against the row as it is now (a part takes a while to arrive)."""
    status = UploadSession.objects.filter(pk=session.pk).values_list("status", flat=True).first()
    if status != UploadSession.Status.OPEN:
        session.status = status
        _require_open(session)


def _lapsed_before() -> datetime:
    """A claim to complete renewed before this is a dead one's (upload_complete renews it)."""
    return timezone.now() - timedelta(seconds=settings.MODELBAY_UPLOAD_COMPLETE_LEASE_SECONDS)


def is_completing(session: UploadSession) -> bool:
    """Whether a `complete` is assembling this session's parts right now."""
    return (session.status == UploadSession.Status.OPEN and session.completing_at is not None
            and session.completing_at > _lapsed_before())  # fmt: skip


def not_completing() -> Q:
    return Q(completing_at__isnull=True) | Q(completing_at__lt=_lapsed_before())


def _touch(session: UploadSession) -> None:
    """Activity keeps a session alive: it expires a TTL after its last part, not after it opened."""
    session.expires_at = _expiry()
    UploadSession.objects.filter(pk=session.pk, status=UploadSession.Status.OPEN).update(
        expires_at=session.expires_at, updated_at=timezone.now())  # fmt: skip


def _expiry():
    return timezone.now() + timedelta(seconds=settings.MODELBAY_UPLOAD_SESSION_TTL_SECONDS)


def _checked_files(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not files:
        raise InvalidInput("List the version's files: [{\"path\", \"size\", \"sha256\"}, ...].")
    if len(files) > MAX_FILES:
        raise InvalidInput(f"An upload holds at most {MAX_FILES} files.", details={"max_files": MAX_FILES})
    declared, seen = [], set()
    for spec in files:
        path, size, sha256 = spec["path"], int(spec["size"]), spec["sha256"].strip().lower()
        parts = path.split("/")
        if (path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts)
                or any(ord(c) < 32 for c in path) or len(path) > 255):  # fmt: skip
            raise InvalidInput(f"'{path}' is not a relative path like 'model.safetensors' or 'onnx/model.onnx'.",
                               code="invalid_path", details={"path": path})  # fmt: skip
        if path in seen:
            raise InvalidInput(f"'{path}' is listed twice.", code="invalid_path", details={"path": path})
        if size < 0 or not _SHA256.match(sha256):
            raise InvalidInput(f"'{path}' needs a size of 0 or more and a SHA-256 of 64 hex digits.",
                               details={"path": path})  # fmt: skip
        seen.add(path)
        declared.append({"path": path, "size": size, "sha256": sha256})
    total = sum(f["size"] for f in declared)
    if total > settings.MODELBAY_MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"The upload is larger than {settings.MODELBAY_MAX_UPLOAD_BYTES} bytes; export a smaller model or "
            "ask us to raise your limit.", details={"max_bytes": settings.MODELBAY_MAX_UPLOAD_BYTES},
        )  # fmt: skip
    if len(declared) > 1:  # they become one zip the scan expands in full
        scan_cap_check(total)
    return declared


def _checked_part_size(part_size: int | None, files: list[dict[str, Any]]) -> int:
    low, high = settings.MODELBAY_UPLOAD_MIN_PART_BYTES, settings.MODELBAY_UPLOAD_MAX_PART_BYTES
    part_size = part_size or max(low, min(settings.MODELBAY_UPLOAD_PART_BYTES, high))
    if not low <= part_size <= high:
        raise InvalidInput(f"part_size must be between {low} and {high} bytes.", code="invalid_part_size",
                           details={"min_part_bytes": low, "max_part_bytes": high})  # fmt: skip
    largest = max(f["size"] for f in files)
    if part_count(largest, part_size) > MAX_PARTS_PER_FILE:
        raise InvalidInput(f"With part_size {part_size} a file would need more than {MAX_PARTS_PER_FILE} parts; "
                           f"use at least {math.ceil(largest / MAX_PARTS_PER_FILE)}.", code="invalid_part_size",
                           details={"min_part_bytes": math.ceil(largest / MAX_PARTS_PER_FILE)})  # fmt: skip
    return part_size

