"""Licensed weight downloads: only when the license allows it and the buyer is entitled, and
every copy is fingerprinted per buyer and recorded.

Memory stays flat whatever the model's size: the artifact is decrypted to a temporary file, the
mark is written while the file is copied (never parsed whole), and the caller streams the
stamped copy out of a second temporary file that is deleted once it is closed."""

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.db import transaction

from accounts.models import Organization, User
from accounts.services import audit_record
from core.errors import Conflict, NotFound, PermissionDenied
from marketplace import fingerprint
from marketplace.artifacts import artifact_export_to
from marketplace.models import Download, License, Model, ModelVersion
from marketplace.selectors.entitlements import require_entitlement


@dataclass(frozen=True)
class DownloadFile:
    file: IO[bytes]  # the stamped copy, at offset 0; unlinked already, gone when closed
    size: int
    filename: str
    download: Download


def _api_only(license: License | None) -> PermissionDenied:
    return PermissionDenied(
        "The license of this model is API-only: it does not allow downloading the weights. "
        "Call the model through the inference API instead.",
        code="license_api_only", details={"license_id": license.pk if license else None},
    )


def _stamped_copy(*, model: Model, version: ModelVersion, mark: fingerprint.Mark) -> tuple[IO[bytes], str, int]:
    """(open stamped file, its SHA-256, its size)."""
    stamped = tempfile.TemporaryFile(prefix="mb-download-")  # noqa: SIM115 - handed to the response
    try:
        with tempfile.TemporaryDirectory(prefix="mb-download-") as tmp:
            plain = Path(tmp) / "plain"
            artifact_export_to(organization=model.organization, name=version.onnx_artifact, path=plain)
            fingerprint.stamp_file(plain, stamped, mark)
        stamped.seek(0)
        digest, size = hashlib.sha256(), 0
        while chunk := stamped.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
        stamped.seek(0)
    except BaseException:
        stamped.close()
        raise
    return stamped, digest.hexdigest(), size


def download_create(
    *, organization: Organization, user: User | None, model: Model, version: str | None = None,
    ip_address: str | None = None,
) -> DownloadFile:
    current = License.objects.filter(model=model, is_current=True).first()
    if current is None or not current.weight_download:
        raise _api_only(current)
    entitlement = require_entitlement(organization=organization, model=model)
    if entitlement is None:
        raise Conflict("Your organization owns this model; export its artifacts from the vendor API.")
    if not entitlement.license.weight_download:
        # The buyer accepted an earlier revision that did not grant downloads.
        raise _api_only(entitlement.license)
    versions = ModelVersion.objects.filter(model=model, status=ModelVersion.Status.READY).exclude(onnx_artifact="")
    chosen = (versions.filter(version=version) if version else versions.order_by("-ready_at", "-created_at")).first()
    if chosen is None:
        raise NotFound(f"{model.full_name} has no ready version {version or ''}".strip() + ".")
    mark = fingerprint.new_mark(entitlement_id=entitlement.pk, organization_id=organization.pk)
    # Stamped before the transaction: a large model takes a while to copy, and holds no lock.
    stamped, sha, size = _stamped_copy(model=model, version=chosen, mark=mark)
    try:
        download = _download_record(organization=organization, user=user, model=model, chosen=chosen,
                                    entitlement=entitlement, mark=mark, sha=sha, ip_address=ip_address)
    except BaseException:
        stamped.close()
        raise
    suffix = "zip" if (chosen.optimization or {}).get("serving_layout") == "onnx_zip" else "onnx"
    filename = f"{model.organization.slug}.{model.slug}-{chosen.version}.{suffix}"
    return DownloadFile(file=stamped, size=size, filename=filename, download=download)


@transaction.atomic
def _download_record(*, organization: Organization, user: User | None, model: Model, chosen: ModelVersion,
                     entitlement, mark: fingerprint.Mark, sha: str, ip_address: str | None) -> Download:
    download = Download.objects.create(
        fingerprint_id=mark.fingerprint_id, organization=organization, entitlement=entitlement, version=chosen,
        user=user if user and user.is_authenticated else None, ip_address=ip_address, file_sha256=sha,
    )
    audit_record(action="model.downloaded", actor=user, organization=organization, target=model.full_name,
                 ip_address=ip_address, details={"download_id": download.pk, "version": chosen.version,
                                                 "fingerprint_id": mark.fingerprint_id,
                                                 "file_sha256": download.file_sha256})
    audit_record(action="model.downloaded_by_buyer", organization=model.organization, target=model.full_name,
                 details={"download_id": download.pk, "version": chosen.version, "buyer_org_id": organization.pk})
    return download
