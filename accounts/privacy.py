"""Data export and erasure for an organization, and the retention rules for async results.

Both walk the schema instead of listing tables, so rows added by other apps (billing, inference)
are covered without accounts importing them:
- export: every row with a foreign key to the organization, and rows that belong only to those
  (a listing's versions, a model's plans), minus secrets (key hashes, wrapped keys, passwords);
- erasure: in those rows, only personal fields (emails, IP addresses, links to users) are cleared. Rows
  themselves stay: invoices, usage totals and license acceptance evidence are kept as the law
  requires for billing. Users are detached; those with no other organization are anonymised.
"""

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.key_cache import publish_change
from accounts.models import ApiKey, AuditLog, Membership, Organization, User
from accounts.services import audit_record
from core.errors import Conflict, InvalidInput, PermissionDenied
from core.redis import get_redis

_SECRET_FIELDS = {"password", "hashed_key", "hashed_token", "wrapped_key"}
_PERSONAL_CHAR_FIELDS = {"accepted_by_email"}


def _fk_to(model: type[models.Model], target: type[models.Model]) -> list[models.ForeignKey]:
    return [f for f in model._meta.concrete_fields
            if isinstance(f, models.ForeignKey) and f.related_model is target]


def _owned_querysets(organization: Organization) -> Iterator[tuple[str, models.QuerySet]]:
    """(label, rows) for rows pointing at the organization, then their purely owned children."""
    direct = [m for m in apps.get_models() if m is not Organization and _fk_to(m, Organization)]
    parents: list[tuple[type[models.Model], models.QuerySet]] = []
    for model in direct:
        for field in _fk_to(model, Organization):
            rows = model._default_manager.filter(**{field.name: organization})
            label = model._meta.label_lower + ("" if len(_fk_to(model, Organization)) == 1 else f".{field.name}")
            parents.append((model, rows))
            yield label, rows
    seen = set(direct) | {Organization}
    for _depth in range(2):  # e.g. Model -> ModelVersion -> VersionLicense
        children = []
        for model in apps.get_models():
            if model in seen:
                continue
            for parent, parent_rows in parents:
                for field in _fk_to(model, parent):
                    rows = model._default_manager.filter(**{f"{field.name}__in": parent_rows.values("pk")})
                    children.append((model, rows))
                    yield f"{model._meta.label_lower}.{field.name}", rows
        seen |= {m for m, _ in children}
        parents = children


def _row(obj: models.Model) -> dict[str, Any]:
    row = {}
    for field in obj._meta.concrete_fields:
        if field.name in _SECRET_FIELDS or isinstance(field, models.BinaryField):
            continue
        row[field.attname] = field.value_from_object(obj)
    return row


def organization_export(*, organization: Organization, actor: User | None, ip_address: str | None = None) -> dict:
    data: dict[str, Any] = {"organization": _row(organization), "exported_at": timezone.now()}
    tables: dict[str, list] = {}
    for label, rows in _owned_querysets(organization):
        found = [_row(obj) for obj in rows.order_by("pk")]
        if found:
            tables.setdefault(label, []).extend(found)
    data["tables"] = tables
    data["members"] = [
        {"email": m.user.email, "name": m.user.name, "role": m.role, "joined": m.created_at}
        for m in Membership.objects.filter(organization=organization).select_related("user")
    ]
    audit_record(action="organization.exported", actor=actor, organization=organization,
                 target=organization.slug, ip_address=ip_address, details={"tables": sorted(tables)})
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def export_download_name(*, organization: Organization, content_type: str) -> str:
    """The file name both the API and the console page offer the export under."""
    return f"{organization.slug}-export.{'zip' if content_type == 'application/zip' else 'json'}"


def export_as_file(data: dict) -> tuple[bytes, str]:
    """JSON, or a zip holding export.json when it is larger than PRIVACY_EXPORT_ZIP_BYTES."""
    body = json.dumps(data, indent=1).encode()
    if len(body) <= settings.PRIVACY_EXPORT_ZIP_BYTES:
        return body, "application/json"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", body)
    return out.getvalue(), "application/zip"


def _personal_updates(model: type[models.Model]) -> dict[str, Any]:
    updates = {}
    for field in model._meta.concrete_fields:
        if isinstance(field, models.GenericIPAddressField) and field.null:
            updates[field.name] = None
        elif isinstance(field, models.ForeignKey) and field.related_model is User and field.null:
            updates[field.name] = None  # rows stay, but no longer say which person
        elif isinstance(field, models.EmailField) or field.name in _PERSONAL_CHAR_FIELDS:
            updates[field.name] = ""
    return updates


def _anonymise_user(user: User) -> None:
    user.email = f"erased-{user.pk}@erased.invalid"
    user.name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save(update_fields=["email", "name", "is_active", "password"])


@transaction.atomic
def organization_erase(
    *, organization: Organization, actor_membership: Membership | None, confirm: str, ip_address: str | None = None,
) -> dict[str, int]:
    if actor_membership is None or actor_membership.role != Membership.Role.OWNER \
            or actor_membership.organization_id != organization.pk:
        raise PermissionDenied("Only an owner can erase the organization's data, from a logged-in session.")
    if confirm != organization.slug:
        raise InvalidInput(f"To confirm, send confirm='{organization.slug}'. Erasure cannot be undone.")
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    if organization.erased_at is not None:
        raise Conflict("This organization's personal data was already erased.")
    actor = actor_membership.user
    counts: dict[str, int] = {}
    for hook in settings.PRIVACY_ERASURE_HOOKS:
        counts[hook.rsplit(".", 1)[-1]] = import_string(hook)(organization=organization, actor=actor)

    keys = list(ApiKey.objects.filter(organization=organization))
    ApiKey.objects.filter(organization=organization, revoked_at__isnull=True).update(revoked_at=timezone.now())
    ApiKey.objects.filter(organization=organization).update(name="erased key")  # names often name people
    for key in keys:
        publish_change(key.hashed_key)  # every process refuses the key on its next call
    counts["api_keys_revoked"] = len(keys)

    memberships = list(Membership.objects.filter(organization=organization).select_related("user"))
    users = [m.user for m in memberships]
    emails = [u.email for u in users]
    Membership.objects.filter(organization=organization).delete()
    anonymised = [u for u in users if not Membership.objects.filter(user=u).exists()]
    for user in anonymised:
        _anonymise_user(user)
    counts["members_detached"], counts["users_anonymised"] = len(users), len(anonymised)

    # Personal columns in every row that belongs to the organization. The base QuerySet.update
    # deliberately bypasses the append-only guards of evidence tables: this is their one allowed change.
    for _label, rows in _owned_querysets(organization):
        updates = _personal_updates(rows.model)
        if updates:
            models.QuerySet.update(rows, **updates)
    names = [*emails, organization.slug]
    logs = AuditLog.objects.filter(models.Q(actor__in=anonymised) | models.Q(target__in=names))
    models.QuerySet.update(logs.filter(target__in=names), target="erased")
    models.QuerySet.update(logs, ip_address=None)

    organization.name = f"Erased organization {organization.pk}"
    organization.slug = f"erased-{organization.pk}"
    organization.country = ""
    organization.erased_at = timezone.now()
    organization.save(update_fields=["name", "slug", "country", "erased_at"])
    org_id = organization.pk
    transaction.on_commit(lambda: async_results_purge(organization_id=org_id))
    audit_record(action="organization.erased", actor=None, organization=organization,
                 target=organization.slug, details=counts)
    return counts


# --- retention of async results ---------------------------------------------------------------

def result_ttl_seconds(organization: Organization) -> int:
    """How long an async result of this organization may live in Redis; 0 = never store it."""
    if organization.erased_at or organization.data_policy == Organization.DataPolicy.ZERO_RETENTION:
        return 0
    return organization.retention_minutes * 60


def result_key(*, organization_id: int, prediction_id: str) -> str:
    return f"{settings.ASYNC_RESULT_KEY_PREFIX}{organization_id}:{prediction_id}"


def async_results_purge(*, organization_id: int, max_ttl: int = 0) -> int:
    """Deletes the organization's results that would outlive max_ttl seconds (all when 0)."""
    redis = get_redis()
    deleted = 0
    for key in redis.scan_iter(match=f"{settings.ASYNC_RESULT_KEY_PREFIX}{organization_id}:*", count=500):
        ttl = redis.ttl(key)
        if max_ttl <= 0 or ttl == -1 or ttl > max_ttl:
            deleted += redis.delete(key)
    return deleted


MAX_RETENTION_MINUTES = 24 * 60


@transaction.atomic
def organization_data_policy_set(
    *, organization: Organization, actor: User | None, data_policy: str, retention_minutes: int | None = None,
    ip_address: str | None = None,
) -> Organization:
    """Switches between zero and short retention. Results already stored that the new policy
    would not allow are deleted at once, not left to expire."""
    if data_policy not in Organization.DataPolicy.values:
        raise InvalidInput(f"data_policy must be one of {', '.join(Organization.DataPolicy.values)}.")
    minutes = organization.retention_minutes if retention_minutes is None else retention_minutes
    if not 1 <= minutes <= MAX_RETENTION_MINUTES:
        raise InvalidInput(f"retention_minutes must be between 1 and {MAX_RETENTION_MINUTES}.")
    previous = {"data_policy": organization.data_policy, "retention_minutes": organization.retention_minutes}
    organization.data_policy = data_policy
    organization.retention_minutes = minutes
    organization.save(update_fields=["data_policy", "retention_minutes"])
    audit_record(action="organization.data_policy_changed", actor=actor, organization=organization,
                 target=organization.slug, ip_address=ip_address,
                 details={"from": previous, "to": {"data_policy": data_policy, "retention_minutes": minutes}})
    org_id, ttl = organization.pk, result_ttl_seconds(organization)
    transaction.on_commit(lambda: async_results_purge(organization_id=org_id, max_ttl=ttl))
    return organization
