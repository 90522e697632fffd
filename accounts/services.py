"""Writes for users, organizations, memberships, API keys and the audit log."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from accounts import keys
from accounts.key_cache import publish_change
from accounts.models import ApiKey, AuditLog, Membership, Organization, User
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RateLimited


def audit_record(
    *, action: str, actor: User | None = None, organization: Organization | None = None,
    target: str = "", ip_address: str | None = None, details: dict | None = None,
) -> AuditLog:
    return AuditLog.objects.create(
        action=action, actor=actor if actor and actor.is_authenticated else None,
        organization=organization, target=target, ip_address=ip_address, details=details or {},
    )


def organization_slug_for(*, name: str, slug: str = "") -> str:
    """The slug a new organization would get, or the refusal organization_create would give."""
    slug = slugify(slug or name)[:50]
    if not slug:
        raise InvalidInput("Give the organization a name with at least one letter or digit.")
    if Organization.objects.filter(slug=slug).exists():
        raise Conflict(f"The organization slug '{slug}' is taken; choose another.", details={"slug": slug})
    return slug


@transaction.atomic
def organization_create(*, owner: User, name: str, slug: str = "", ip_address: str | None = None) -> Organization:
    slug = organization_slug_for(name=name, slug=slug)
    organization = Organization.objects.create(name=name, slug=slug)
    Membership.objects.create(user=owner, organization=organization, role=Membership.Role.OWNER)
    audit_record(action="organization.created", actor=owner, organization=organization,
                 target=slug, ip_address=ip_address)
    return organization


@transaction.atomic
def membership_set_role(
    *, actor_membership: Membership, membership_id: int, role: str, ip_address: str | None = None
) -> Membership:
    if not actor_membership.can_manage:
        raise PermissionDenied("Only owners and admins can change roles.")
    if role not in Membership.Role.values:
        raise InvalidInput(f"Unknown role '{role}'; use one of {', '.join(Membership.Role.values)}.")
    membership = (
        Membership.objects.select_for_update()
        .filter(organization=actor_membership.organization, pk=membership_id)
        .select_related("user").first()
    )
    if membership is None:
        raise NotFound("No such member in this organization.")
    if role == Membership.Role.OWNER and actor_membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only an owner can make another member an owner.")
    if membership.role == Membership.Role.OWNER and role != Membership.Role.OWNER:
        owners = Membership.objects.filter(organization=membership.organization, role=Membership.Role.OWNER)
        if owners.count() == 1:
            raise Conflict("An organization needs at least one owner; make someone else owner first.")
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(action="membership.role_changed", actor=actor_membership.user,
                 organization=membership.organization, target=membership.user.email,
                 ip_address=ip_address, details={"from": previous, "to": role})
    return membership


@transaction.atomic
def api_key_create(
    *, organization: Organization, created_by: User | None, name: str, scopes: list[str],
    mode: str = ApiKey.Mode.LIVE, expires_at: datetime | None = None, ip_address: str | None = None,
) -> tuple[ApiKey, str]:
    """Returns the key row and its plaintext. The plaintext is never stored or shown again."""
    unknown = sorted(set(scopes) - set(ApiKey.Scope.values))
    if unknown or not scopes:
        raise InvalidInput(
            f"Choose scopes from {', '.join(ApiKey.Scope.values)}.", details={"unknown_scopes": unknown}
        )
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at must be in the future.")
    ephemeral = expires_at is not None and expires_at - now <= _ephemeral_lifetime()
    if mode == ApiKey.Mode.LIVE and not ephemeral and created_by is not None and not created_by.email_verified:
        raise PermissionDenied(
            f"Confirm your email address before creating live keys: open the link we sent to "
            f"{created_by.email}, or send a new one from the API keys page. Test keys work meanwhile.",
            code="email_not_verified",
        )
    # One creation at a time per organization, so concurrent requests cannot both pass the cap.
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    _check_key_caps(organization=organization, ephemeral=ephemeral, now=now)
    new = keys.generate(mode)
    api_key = ApiKey.objects.create(
        organization=organization, created_by=created_by, name=name[:100] or "unnamed", mode=mode,
        display_prefix=new.display_prefix, hashed_key=new.hashed, scopes=sorted(set(scopes)),
        expires_at=expires_at,
    )
    audit_record(action="api_key.created", actor=created_by, organization=organization,
                 target=api_key.display_prefix, ip_address=ip_address,
                 details={"key_id": api_key.pk, "scopes": api_key.scopes})
    return api_key, new.plaintext


def _ephemeral_lifetime() -> timedelta:
    return timedelta(seconds=settings.API_KEY_EPHEMERAL_SECONDS)


def _check_key_caps(*, organization: Organization, ephemeral: bool, now: datetime) -> None:
    """Long-lived and short-lived (playground) keys have separate caps on the active ones, so a
    busy playground never stops anyone creating a real key, and expired keys count for nothing."""
    active = ApiKey.objects.filter(organization=organization, revoked_at__isnull=True).exclude(expires_at__lte=now)
    short_lived = Q(expires_at__isnull=False, expires_at__lte=F("created_at") + _ephemeral_lifetime())
    if not ephemeral:
        limit = settings.API_KEYS_MAX_ACTIVE_PER_ORG
        count = active.exclude(short_lived).count()
        if count >= limit:
            raise Conflict(
                f"{organization.name} has {count} active API keys, the most allowed ({limit}). Revoke keys "
                "you no longer use (on the API keys page, or DELETE /api/v1/keys/{id}), then try again.",
                code="too_many_keys", details={"limit": limit, "active": count},
            )
        return
    limit = settings.API_KEYS_MAX_EPHEMERAL_PER_ORG
    short = active.filter(short_lived)
    if short.count() >= limit:
        first_expiry = short.order_by("expires_at").values_list("expires_at", flat=True).first()
        retry_after = max(int((first_expiry - now).total_seconds()) + 1, 1)
        raise RateLimited(
            f"{organization.name} has {limit} short-lived keys (playground sessions) at once, the most "
            f"allowed. The oldest expires in {retry_after} s; try again then.",
            code="too_many_short_lived_keys", details={"limit": limit, "retry_after_seconds": retry_after},
        )


@transaction.atomic
def api_key_revoke(
    *, organization: Organization, key_id: int, actor: User | None, ip_address: str | None = None
) -> ApiKey:
    api_key = ApiKey.objects.select_for_update().filter(organization=organization, pk=key_id).first()
    if api_key is None:
        raise NotFound("No such API key in this organization.")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(action="api_key.revoked", actor=actor, organization=organization,
                     target=api_key.display_prefix, ip_address=ip_address, details={"key_id": api_key.pk})
    # Every process (web, inference workers) refuses the key from its next call on.
    publish_change(api_key.hashed_key)
    return api_key


def api_key_touch(*, api_key: ApiKey, now: datetime) -> None:
    """Records use at most once per resolution window, so auth is not a write per request."""
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
