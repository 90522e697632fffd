"""Writes on model versions: upload (-> the conversion pipeline), delete a draft, immutability.

Uploads are sniffed by content here, synchronously, so a vendor gets an immediate 422 for a
pickle or an unknown format, and a 413 for a zip that expands to more than the scan takes; the
pipeline's scanning stage sniffs again (defence in depth) and runs the zip/ONNX checks, which
take longer.
"""

import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict, InvalidInput, PayloadTooLarge, UnsupportedModelFormat
from core.queueing import send_after_commit
from inference.conversion.steps.errors import ModelCheckError
from inference.conversion.steps.formats import SourceFormat, sniff
from inference.conversion.steps.safety import check_zip
from marketplace.artifacts import Artifact, artifact_delete, artifact_save
from marketplace.models import Model, ModelVersion

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$")
STAGES = [s.value for s in ModelVersion.PIPELINE[1:-1]]  # scanning .. benchmarking
PIPELINE_TASK = "inference.pipeline.process_version"
# In pipeline_state of a received version whose pipeline message the broker did not take (it was
# down when the upload committed); the beat sweep sends it again (versions_requeue_unqueued).
UNQUEUED = "unqueued_at"
# The fields of a version that name a stored artifact. Content-addressed artifacts may be shared
# between versions, so deleting one checks all of these (and the conversion bundle, named in
# pipeline_state while a version converts) first; a new artifact field goes here.
ARTIFACT_FIELDS = ("source_artifact", "example_inputs_artifact", "onnx_artifact", "int8_artifact", "int4_artifact",
                   "tokenizer_artifact")  # fmt: skip
# What a vendor may change on a version that is not ready; everything else is the pipeline's
# (artifacts, checksums, signature, stages, claims), so it is refused rather than listed.
EDITABLE_FIELDS = frozenset({"hardware_class", "source_filename"})


def initial_stages() -> dict[str, dict[str, Any]]:
    return {s: {"state": "pending", "started_at": None, "finished_at": None, "duration": None,
                "detail": {}} for s in STAGES}  # fmt: skip


def next_version(*, model: Model) -> str:
    """The next patch after the highest semantic version of this model (1.0.0 for the first)."""
    best: tuple[int, int, int] | None = None
    for text in ModelVersion.objects.filter(model=model).values_list("version", flat=True):
        match = SEMVER.match(text)
        if match:
            parts = tuple(int(p) for p in match.groups()[:3])
            best = parts if best is None or parts > best else best
    return "1.0.0" if best is None else f"{best[0]}.{best[1]}.{best[2] + 1}"


def _example_inputs_npz(example_inputs: dict | Path, workdir: Path) -> Path:
    """JSON `{name: nested list}` or an uploaded .npz -> a checked .npz of numeric arrays."""
    path = workdir / "example_inputs.npz"
    if isinstance(example_inputs, dict):
        try:
            arrays = {str(k): np.asarray(v) for k, v in example_inputs.items()}
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"example_inputs must map names to rectangular nested lists: {exc}") from exc
        arrays = {k: a.astype(np.float32) if a.dtype.kind == "f" else a for k, a in arrays.items()}
        np.savez(path, **arrays)
    else:
        if example_inputs.stat().st_size > settings.MODELBAY_MAX_EXAMPLE_INPUTS_BYTES:
            raise PayloadTooLarge("example_inputs is larger than allowed; send a smaller batch.")
        try:
            check_zip(example_inputs, max_entries=256, max_total_bytes=settings.MODELBAY_MAX_EXAMPLE_INPUTS_BYTES)
            with np.load(example_inputs, allow_pickle=False) as data:  # object arrays = pickles: refused
                arrays = {k: data[k] for k in data.files}
        except (ModelCheckError, ValueError, OSError) as exc:
            raise InvalidInput(f"example_inputs is not a valid .npz of numeric arrays: {exc}") from exc
        np.savez(path, **arrays)
    if not arrays or any(a.dtype.kind not in "biuf" for a in arrays.values()):
        raise InvalidInput("example_inputs must hold at least one numeric array (bool, int or float).")
    return path


def scan_cap_check(expanded_bytes: int) -> None:
    """413 now for a model the pipeline's safety scan would refuse after the whole upload
    (MODELBAY_SCAN_MAX_TOTAL_BYTES), rather than after the vendor has sent every byte."""
    cap = settings.MODELBAY_SCAN_MAX_TOTAL_BYTES
    if expanded_bytes > cap:
        raise PayloadTooLarge(
            f"This model holds {expanded_bytes} bytes; the pipeline scans at most {cap} bytes per model "
            "(MODELBAY_SCAN_MAX_TOTAL_BYTES on this site). Upload a smaller export, such as fewer or "
            "lower-precision weights, or ask the site's operators to raise the limit.",
            code="model_too_large_to_scan", details={"bytes": expanded_bytes, "max_bytes": cap})


def _check_archive_scannable(upload: Path) -> None:
    """The scan's size cap, from the zip's central directory (cheap at any size; `sniff` has just
    read it). The archive's other checks (names, entry types, counts) stay the scanning stage's."""
    with zipfile.ZipFile(upload) as archive:
        scan_cap_check(sum(info.file_size for info in archive.infolist()))


def version_check_new(*, model: Model, version: str) -> None:
    """A new version must be semantic and not taken (versions are immutable)."""
    if not SEMVER.match(version):
        raise InvalidInput(f"'{version}' is not a semantic version; use MAJOR.MINOR.PATCH, e.g. 1.2.0.")
    if ModelVersion.objects.filter(model=model, version=version).exists():
        raise Conflict(f"Version {version} of '{model.slug}' exists; versions are immutable, upload a new one.")


@dataclass(frozen=True)
class StoredSource:
    """A vendor's upload, sniffed and stored encrypted, not yet a version (version_source_store)."""

    version: str
    source_format: SourceFormat
    filename: str
    source: Artifact
    examples: Artifact | None


def version_upload(
    *, model: Model, upload: Path, filename: str, version: str | None = None,
    example_inputs: dict | Path | None = None,
) -> ModelVersion:
    """Sniff, store encrypted, create the version in `received` and queue the pipeline."""
    stored = version_source_store(model=model, upload=upload, filename=filename, version=version,
                                  example_inputs=example_inputs)  # fmt: skip
    return version_create(model=model, stored=stored)


def version_source_store(
    *, model: Model, upload: Path, filename: str, version: str | None = None,
    example_inputs: dict | Path | None = None,
) -> StoredSource:
    """The slow half of an upload (reading and encrypting every byte), refused early if the file
    or the version number cannot be taken. Call it outside any transaction: on SQLite a transaction
    holds the database's one write lock, which minutes of encryption would keep from everyone."""
    if version is not None and not SEMVER.match(version):
        raise InvalidInput(f"'{version}' is not a semantic version; use MAJOR.MINOR.PATCH, e.g. 1.2.0.")
    try:
        fmt = sniff(upload)
        if fmt in (SourceFormat.ONNX_ZIP, SourceFormat.HF_ZIP):
            _check_archive_scannable(upload)
    except ModelCheckError as exc:
        raise UnsupportedModelFormat(exc.message, details={"check": exc.code, **exc.details}) from exc
    version = version or next_version(model=model)
    version_check_new(model=model, version=version)
    organization = model.organization
    with tempfile.TemporaryDirectory(prefix="mb-upload-") as tmp:
        examples = _example_inputs_npz(example_inputs, Path(tmp)) if example_inputs is not None else None
        source = artifact_save(organization=organization, source=upload, kind="source")
        examples_artifact = artifact_save(organization=organization, source=examples, kind="examples") if examples else None
    return StoredSource(version=version, source_format=fmt, filename=Path(filename).name[:255], source=source,
                        examples=examples_artifact)  # fmt: skip


def version_create(*, model: Model, stored: StoredSource) -> ModelVersion:
    """The version in `received`, its pipeline queued after commit. Quick: a caller may wrap it
    in a transaction of its own to record something with it."""
    try:
        with transaction.atomic():
            created = ModelVersion.objects.create(
                model=model, version=stored.version, status=ModelVersion.Status.RECEIVED, stages=initial_stages(),
                source_format=stored.source_format.value, source_filename=stored.filename,
                source_artifact=stored.source.name, source_sha256=stored.source.sha256,
                source_size=stored.source.size,
                example_inputs_artifact=stored.examples.name if stored.examples else "",
            )
            _queue_pipeline(created.pk)
    except IntegrityError as exc:
        _delete_unreferenced(model.organization, [stored.source.name, stored.examples.name if stored.examples else ""])
        raise Conflict(f"Version {stored.version} of '{model.slug}' was just created by another upload.") from exc
    return created


def _queue_pipeline(version_id: int) -> None:
    send_after_commit(PIPELINE_TASK, args=[version_id], unsent=lambda: _mark_unqueued(version_id))


def _waiting(version_id: int | None = None):
    """Received versions no worker has claimed yet (all of them, or the one given)."""
    waiting = ModelVersion.objects.filter(status=ModelVersion.Status.RECEIVED, claim_token="")
    return waiting if version_id is None else waiting.filter(pk=version_id)


def _mark_unqueued(version_id: int) -> None:
    version = _waiting(version_id).first()
    if version is not None:
        _waiting(version_id).update(pipeline_state={**version.pipeline_state, UNQUEUED: timezone.now().isoformat()})


def versions_requeue_unqueued() -> int:
    """Sends the pipeline message again for the versions marked UNQUEUED; beat calls this every
    minute, so an upload made while the broker was down converts within a minute of its return.
    The mark is cleared first (and set again if the broker still refuses); updated_at moves on
    so the deadline sweep does not send the same version a second time."""
    count = 0
    for version in _waiting().filter(pipeline_state__has_key=UNQUEUED):
        state = {k: v for k, v in version.pipeline_state.items() if k != UNQUEUED}
        if _waiting(version.pk).update(pipeline_state=state, updated_at=timezone.now()):
            _queue_pipeline(version.pk)
            count += 1
    return count


@transaction.atomic
def version_delete(*, version: ModelVersion) -> None:
    """Only versions that are not ready (drafts, failed, in progress) can be deleted."""
    if version.status == ModelVersion.Status.READY:
        raise Conflict("Ready versions are immutable and cannot be deleted; upload a new version instead.")
    names = [getattr(version, field) for field in ARTIFACT_FIELDS]
    names.append(version.pipeline_state.get("converted_bundle", ""))
    organization = version.model.organization
    version.delete()
    transaction.on_commit(lambda: _delete_unreferenced(organization, names))


def version_update(*, version: ModelVersion, **fields: Any) -> ModelVersion:
    """Changes a version's descriptive data; a ready version is immutable."""
    if version.status == ModelVersion.Status.READY:
        raise Conflict("This version is ready and immutable; upload a new version to change it.")
    refused = set(fields) - EDITABLE_FIELDS
    if refused:
        raise InvalidInput(f"These fields are set by the pipeline: {', '.join(sorted(refused))}; "
                           f"only {', '.join(sorted(EDITABLE_FIELDS))} can be changed.")
    updated = ModelVersion.objects.filter(pk=version.pk).exclude(status=ModelVersion.Status.READY).update(
        **fields, updated_at=timezone.now()
    )
    if not updated:
        raise Conflict("This version became ready meanwhile and is now immutable.")
    version.refresh_from_db()
    return version


def _delete_unreferenced(organization, names: list[str]) -> None:
    """Content-addressed artifacts may be shared by versions: delete only unreferenced ones."""
    for name in filter(None, set(names)):
        in_use = ModelVersion.objects.filter(model__organization=organization).filter(
            _references(name)
        ).exists()
        if not in_use:
            artifact_delete(organization=organization, name=name)


def _references(name: str) -> Q:
    references = Q(pipeline_state__converted_bundle=name)
    for field in ARTIFACT_FIELDS:
        references |= Q(**{field: name})
    return references

