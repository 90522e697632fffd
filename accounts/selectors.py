from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiKey, AuditLog, Invitation, Membership, Organization, User


def api_keys_for(*, organization: Organization) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(organization=organization)


def api_key_prefix_for_snippets(*, organization: Organization, user: User) -> str | None:
    """The display prefix of a key that can call models, for code snippets to show in place of
    the secret: the user's own newest one first, then the organization's. Short-lived keys (the
    playground's) are left out: they will have expired by the time the code is run."""
    now = timezone.now()
    keys = [key for key in ApiKey.objects.filter(organization=organization, revoked_at__isnull=True)
            .exclude(expires_at__lte=now + timedelta(seconds=settings.API_KEY_EPHEMERAL_SECONDS))
            .order_by("-created_at") if key.has_scope(ApiKey.Scope.INFERENCE)]
    own = [key for key in keys if key.created_by_id == user.pk]
    return (own or keys)[0].display_prefix if keys else None


def memberships_for(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user")


def organizations_for(*, user: User) -> QuerySet[Organization]:
    return Organization.objects.filter(memberships__user=user).order_by("slug")


def audit_log_for(*, organization: Organization) -> QuerySet[AuditLog]:
    return AuditLog.objects.filter(organization=organization).select_related("actor")


def invitations_pending_for(*, organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        organization=organization, accepted_at__isnull=True, revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).select_related("invited_by")
