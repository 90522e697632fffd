"""Writes for license revisions and acceptance evidence."""

import hashlib
from datetime import datetime

from django.db import transaction
from django.db.models import Max

from accounts.models import Organization, User
from accounts.services import audit_record
from core.errors import InvalidInput
from marketplace.license_presets import license_defaults, license_warnings, preset_for
from marketplace.models import License, LicenseAcceptance, Model, ModelVersion, VersionLicense

LICENSE_TERM_FIELDS = [
    "kind", "identifier", "text", "commercial_use", "weight_download", "attribution_required", "derivatives_allowed",
    "territory_mode", "territories", "max_monthly_calls", "expires_at",
]


def _clean_territories(territories: list[str]) -> list[str]:
    cleaned = sorted({str(c).strip().upper() for c in territories})
    bad = [c for c in cleaned if len(c) != 2 or not c.isalpha()]
    if bad:
        raise InvalidInput("Territories are ISO 3166-1 alpha-2 country codes such as DE or US.",
                           details={"invalid_territories": bad})
    return cleaned


@transaction.atomic
def license_set(
    *, model: Model, actor: User | None, kind: str, identifier: str, text: str = "",
    commercial_use: bool | None = None, weight_download: bool | None = None,
    attribution_required: bool | None = None, derivatives_allowed: bool | None = None,
    territory_mode: str = License.TerritoryMode.ANYWHERE, territories: list[str] | None = None,
    max_monthly_calls: int | None = None, expires_at: datetime | None = None, ip_address: str | None = None,
) -> License:
    """Publishes a new license revision for the model. Earlier revisions stay untouched, so what a
    buyer accepted never changes under them; new subscriptions accept the new revision.

    A permission left as None takes what the SPDX license grants (marketplace.license_presets), so
    "MIT" alone is published as MIT's terms; one set explicitly is kept even where it contradicts
    the license (the callers show license_warnings for it). `derivatives_allowed` left out on a
    custom EULA or an unlisted id stays None: buyers are told the license text decides."""
    if kind == License.Kind.CUSTOM and not text.strip():
        raise InvalidInput("A custom EULA needs its full text; paste it in 'text'.")
    territories = _clean_territories(territories or [])
    preset = preset_for(identifier) if kind == License.Kind.SPDX else None
    identifier = preset.spdx_id if preset else identifier  # "mit" is stored as the SPDX id "MIT"
    permissions = license_defaults(kind=kind, identifier=identifier, commercial_use=commercial_use,
                                   weight_download=weight_download, attribution_required=attribution_required,
                                   derivatives_allowed=derivatives_allowed)
    if territory_mode != License.TerritoryMode.ANYWHERE and not territories:
        raise InvalidInput(f"territory_mode '{territory_mode}' needs a list of country codes in 'territories'.")
    # Lock the model row so two concurrent edits do not both claim the next revision number.
    Model.objects.select_for_update().filter(pk=model.pk).first()
    previous = License.objects.filter(model=model, is_current=True).first()
    revision = (License.objects.filter(model=model).aggregate(m=Max("revision"))["m"] or 0) + 1
    License.objects.filter(model=model, is_current=True).update(is_current=False)
    license = License.objects.create(
        model=model, revision=revision, kind=kind, identifier=identifier.strip(), text=text,
        text_sha256=hashlib.sha256(text.encode()).hexdigest(), **permissions, territory_mode=territory_mode, territories=territories, max_monthly_calls=max_monthly_calls,
        expires_at=expires_at,
    )
    license_stamp_versions(model=model)
    audit_record(
        action="license.revised" if previous else "license.created", actor=actor,
        organization=model.organization, target=model.full_name, ip_address=ip_address,
        details={"license_id": license.pk, "revision": revision, "previous_id": previous.pk if previous else None,
                 "identifier": license.identifier, "text_sha256": license.text_sha256},
    )
    return license


def license_warnings_of(license: License) -> list[dict]:
    """Where a saved revision's permissions say something else than its SPDX license."""
    return license_warnings(kind=license.kind, identifier=license.identifier, commercial_use=license.commercial_use,
                            weight_download=license.weight_download,
                            attribution_required=license.attribution_required,
                            derivatives_allowed=license.derivatives_allowed)


def license_stamp_versions(*, model: Model) -> int:
    """Ready versions without a license carry the current revision from now on."""
    current = License.objects.filter(model=model, is_current=True).first()
    if current is None:
        return 0
    unlicensed = ModelVersion.objects.filter(
        model=model, status=ModelVersion.Status.READY, license_link__isnull=True
    )
    links = [VersionLicense(version=v, license=current) for v in unlicensed]
    VersionLicense.objects.bulk_create(links, ignore_conflicts=True)
    return len(links)


def license_accept(
    *, license: License, organization: Organization, user: User | None, declared_use: str,
    territory: str, ip_address: str | None = None,
) -> LicenseAcceptance:
    """Records acceptance evidence. Callers check the terms first (entitlement_subscribe does)."""
    acceptance = LicenseAcceptance.objects.create(
        license=license, organization=organization, user=user if user and user.is_authenticated else None,
        accepted_by_email=user.email if user and user.is_authenticated else "", ip_address=ip_address,
        text_sha256=license.text_sha256, declared_use=declared_use, territory=territory.upper(),
    )
    details = {"acceptance_id": acceptance.pk, "license_id": license.pk, "revision": license.revision,
               "declared_use": declared_use, "territory": acceptance.territory}
    audit_record(action="license.accepted", actor=user, organization=organization,
                 target=license.model.full_name, ip_address=ip_address, details=details)
    # The vendor's copy names the buying organization, never the buyer's people or address.
    audit_record(action="license.accepted_by_buyer", organization=license.model.organization,
                 target=license.model.full_name, details={**details, "buyer_org_id": organization.pk})
    return acceptance
