"""Completing a multipart upload: every part present -> the files assembled (streamed, a chunk at
a time) and checked against their declared SHA-256 -> the one source `version_upload` takes
(one file as is; several, such as shards + config.json + tokenizer, as a stored zip) -> the
existing pipeline. Either a version comes out, or the session is closed with nothing kept.
"""

import hashlib
import tempfile
import zipfile
from contextlib import closing
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, Conflict
from core.leases import renewed
from marketplace.models import ModelVersion, UploadPart, UploadSession
from marketplace.services.uploads import UploadClosed, not_completing, part_count, parts_delete
from marketplace.services.versions import version_create, version_source_store
from marketplace.upload_store import part_store, unseal_parts


class UploadHashMismatch(ApplicationError):
    status_code = 422
    code = "upload_hash_mismatch"


class UploadRefused(ApplicationError):
    """The refusal `complete` gave this session before, given again."""

    def __init__(self, refusal: dict) -> None:
        super().__init__(refusal["message"], code=refusal["code"], details=refusal["details"])
        self.status_code = refusal["status"]


def upload_session_complete(*, session: UploadSession) -> ModelVersion:
    """Assemble, verify and hand to the pipeline; the created version (status `received`).
    Asked again, it answers as it did: the same version, or the same refusal."""
    done = _already_completed(session)
    if done is not None:
        return done
    claimed = UploadSession.objects.filter(pk=session.pk, status=UploadSession.Status.OPEN).filter(not_completing())
    if not claimed.update(completing_at=timezone.now()):
        session.refresh_from_db()
        done = _already_completed(session)
        if done is not None:
            return done
        if session.status != UploadSession.Status.OPEN:
            raise UploadClosed(f"This upload is {session.status}; open a new one.")
        raise Conflict("This upload is being completed by another request; poll GET /api/v1/vendor/uploads/"
                       f"{session.id}.", code="upload_completing")  # fmt: skip
    try:
        with _claim_renewed(session):
            missing = _missing_parts(session)
            if missing:
                raise Conflict("Some parts have not arrived; send them, then complete again.",
                               code="upload_incomplete", details={"missing": missing})  # fmt: skip
            return _assemble_and_hand_over(session)
    finally:
        # Whatever happened, a session still open is not being completed any more.
        UploadSession.objects.filter(pk=session.pk, status=UploadSession.Status.OPEN).update(completing_at=None)


def _claim_renewed(session: UploadSession):
    """Keeps this request's claim fresh while it works (tens of GiB take minutes), so only a
    `complete` whose process died loses it, MODELBAY_UPLOAD_COMPLETE_LEASE_SECONDS later."""
    claim = UploadSession.objects.filter(pk=session.pk, status=UploadSession.Status.OPEN, completing_at__isnull=False)
    return renewed(lambda: claim.update(completing_at=timezone.now()),
                   every=settings.MODELBAY_UPLOAD_COMPLETE_LEASE_SECONDS / 4, name=f"complete-{session.pk}")


def _already_completed(session: UploadSession) -> ModelVersion | None:
    """A client that lost the answer to `complete` (a proxy's timeout cut a long assembly) and
    asks again gets the same version, or the same refusal."""
    if session.status == UploadSession.Status.CANCELLED and session.refusal:
        raise UploadRefused(session.refusal)
    if session.status != UploadSession.Status.COMPLETED:
        return None
    return ModelVersion.objects.filter(model=session.model, version=session.version).first()


def _missing_parts(session: UploadSession) -> dict[str, list[int]]:
    present: dict[int, set[int]] = {}
    for file_index, number in UploadPart.objects.filter(session=session).values_list("file_index", "number"):
        present.setdefault(file_index, set()).add(number)
    missing = {}
    for index, spec in enumerate(session.files):
        absent = [n for n in range(part_count(spec["size"], session.part_size)) if n not in present.get(index, ())]
        if absent:
            missing[spec["path"]] = absent
    return missing


def _assemble_and_hand_over(session: UploadSession) -> ModelVersion:
    with tempfile.TemporaryDirectory(prefix="mb-assemble-", dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        try:
            source, filename = _assemble(session, Path(tmp))
            stored = version_source_store(model=session.model, upload=source, filename=filename,
                                          version=session.version, example_inputs=session.example_inputs)  # fmt: skip
            with transaction.atomic():  # the version and the session's end, together or not at all
                created = version_create(model=session.model, stored=stored)
                UploadSession.objects.filter(pk=session.pk).update(
                    status=UploadSession.Status.COMPLETED, completing_at=None, updated_at=timezone.now())  # fmt: skip
        except ApplicationError as exc:
            # A refused file or model is refused again on every retry: close, keep nothing.
            refusal = {"status": exc.status_code, "code": exc.code, "message": exc.message, "details": exc.details}
            UploadSession.objects.filter(pk=session.pk, status=UploadSession.Status.OPEN).update(
                status=UploadSession.Status.CANCELLED, refusal=refusal, updated_at=timezone.now())  # fmt: skip
            session.status = UploadSession.Status.CANCELLED
            parts_delete(session=session)
            raise
    session.status = UploadSession.Status.COMPLETED
    parts_delete(session=session)
    return created


def _assemble(session: UploadSession, workdir: Path) -> tuple[Path, str]:
    """One declared file: itself. Several: a zip (stored, not compressed) with their paths."""
    files = session.files
    if len(files) == 1:
        target = workdir / Path(files[0]["path"]).name
        with open(target, "wb") as out:
            _write_file(session, 0, out)
        return target, target.name
    target = workdir / f"{session.model.slug}-{session.version}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for index, spec in enumerate(files):
            info = zipfile.ZipInfo(spec["path"], date_time=(2020, 1, 1, 0, 0, 0))
            info.file_size = spec["size"]  # so the entry is written as zip64 when it must be
            with archive.open(info, "w") as out:
                _write_file(session, index, out)
    return target, target.name


def _write_file(session: UploadSession, index: int, out) -> None:
    spec = session.files[index]
    parts = list(UploadPart.objects.filter(session=session, file_index=index).order_by("number"))
    digest = hashlib.sha256()
    if parts:
        with closing(part_store().open_file(session, index, parts)) as stream:
            for chunk in unseal_parts(session, index, parts, stream):
                digest.update(chunk)
                out.write(chunk)
    if digest.hexdigest() != spec["sha256"]:
        raise UploadHashMismatch(
            f"{spec['path']} as assembled does not match the SHA-256 you declared; nothing was kept. Check the "
            "file did not change while uploading, then upload it again.",
            details={"path": spec["path"], "declared": spec["sha256"], "assembled": digest.hexdigest()},
        )  # fmt: skip

