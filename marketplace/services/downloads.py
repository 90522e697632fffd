"""Licensed weight downloads: only when the license allows it and the buyer is entitled, and
every copy is fingerprinted per buyer and recorded."""

import hashlib
from dataclasses import dataclass

from django.db import transaction

from accounts.models import Organization, User
from accounts.services import audit_record
from core.errors import Conflict, NotFound, PermissionDenied
from marketplace import fingerprint
from marketplace.artifacts import artifact_read
from marketplace.models import Download, License, Model, ModelVersion
from marketplace.selectors.entitlements import require_entitlement


@dataclass(frozen=True)
class DownloadFile:
    content: bytes
    filename: str
    download: Download


def _api_only(license: License | None) -> PermissionDenied:
    return PermissionDenied(
        "The license of this model is API-only: it does not allow downloading the weights. "
        "Call the model through the inference API instead.",
        code="license_api_only", details={"license_id": license.pk if license else None},
    )


@transaction.atomic
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
    plain = artifact_read(organization=model.organization, name=chosen.onnx_artifact)
    mark = fingerprint.new_mark(entitlement_id=entitlement.pk, organization_id=organization.pk)
    content = fingerprint.stamp(plain, mark)
    download = Download.objects.create(
        fingerprint_id=mark.fingerprint_id, organization=organization, entitlement=entitlement, version=chosen,
        user=user if user and user.is_authenticated else None, ip_address=ip_address,
        file_sha256=hashlib.sha256(content).hexdigest(),
    )
    audit_record(action="model.downloaded", actor=user, organization=organization, target=model.full_name,
                 ip_address=ip_address, details={"download_id": download.pk, "version": chosen.version,
                                                 "fingerprint_id": mark.fingerprint_id,
                                                 "file_sha256": download.file_sha256})
    audit_record(action="model.downloaded_by_buyer", organization=model.organization, target=model.full_name,
                 details={"download_id": download.pk, "version": chosen.version, "buyer_org_id": organization.pk})
    suffix = "zip" if (chosen.optimization or {}).get("serving_layout") == "onnx_zip" else "onnx"
    filename = f"{model.organization.slug}.{model.slug}-{chosen.version}.{suffix}"
    return DownloadFile(content=content, filename=filename, download=download)
