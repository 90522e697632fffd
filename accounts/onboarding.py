"""Writes for joining Modelbay: signing up, inviting people into an organization, accepting.

Kept apart from accounts/services.py (keys, roles, audit) so that module stays small; the
rules are the same: keyword-only, atomic, every write audited.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, Organization, User
from accounts.services import audit_record, organization_create, organization_slug_for
from accounts.verification import existing_account_notice_send, verification_send
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.mail import email_after_commit

INVITATION_LIFETIME = timedelta(days=7)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("accounts:invitation", kwargs={"token": token})


@dataclass(frozen=True)
class InviteResult:
    """Exactly one of `membership` (the email had an account) or `invitation` + `token`."""

    membership: Membership | None = None
    invitation: Invitation | None = None
    token: str = ""


@dataclass(frozen=True)
class SignUp:
    """`user` is None when the address had an account: nothing was created and its owner was
    emailed. Callers answer both cases alike, so the page never tells who has an account."""

    user: User | None = None
    organization: Organization | None = None


@transaction.atomic
def user_sign_up(
    *, email: str, password: str, organization_name: str = "", invitation_token: str = "",
    ip_address: str | None = None,
) -> SignUp:
    """A new, unverified user with either a new organization they own or the one an invitation
    names, plus an email with the confirmation link."""
    email = User.objects.normalize_email(email).lower()
    if not invitation_token:
        if not organization_name.strip():
            raise InvalidInput("Name your organization; you can invite colleagues into it afterwards.")
        # Checked before the address, so a taken name is refused whether or not the email is known.
        organization_slug_for(name=organization_name.strip())
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        if invitation_token:
            # Only whoever holds the emailed invitation link can learn this.
            raise Conflict("An account with this email exists already; log in to accept the invitation.")
        make_password(password)  # the hashing a real sign-up does, so the answer takes as long
        audit_record(action="user.sign_up_for_existing_email", target=email, ip_address=ip_address)
        existing_account_notice_send(user=existing)
        return SignUp()
    user = User.objects.create_user(email, password, email_verified_at=None)
    audit_record(action="user.signed_up", actor=user, target=email, ip_address=ip_address)
    verification_send(user=user)
    if invitation_token:
        membership = invitation_accept(token=invitation_token, user=user, ip_address=ip_address)
        return SignUp(user=user, organization=membership.organization)
    organization = organization_create(owner=user, name=organization_name.strip(), ip_address=ip_address)
    return SignUp(user=user, organization=organization)


@transaction.atomic
def member_invite(
    *, actor_membership: Membership, email: str, role: str, ip_address: str | None = None
) -> InviteResult:
    """Adds an existing user at once; otherwise records an invitation and emails its link."""
    organization = actor_membership.organization
    if not actor_membership.can_manage:
        raise PermissionDenied("Only owners and admins can invite members.")
    if role not in Membership.Role.values:
        raise InvalidInput(f"Unknown role '{role}'; use one of {', '.join(Membership.Role.values)}.")
    if role == Membership.Role.OWNER and actor_membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only an owner can invite another owner.")
    email = User.objects.normalize_email(email).strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        if Membership.objects.filter(user=user, organization=organization).exists():
            raise Conflict(f"{email} is already a member of {organization.name}.")
        membership = Membership.objects.create(user=user, organization=organization, role=role)
        audit_record(action="membership.added", actor=actor_membership.user, organization=organization,
                     target=email, ip_address=ip_address, details={"role": role})
        return InviteResult(membership=membership)
    now = timezone.now()
    # A fresh invitation replaces any pending one for the same address: one valid link at a time.
    Invitation.objects.filter(
        organization=organization, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization, email=email, role=role, invited_by=actor_membership.user,
        hashed_token=hash_token(token), expires_at=now + INVITATION_LIFETIME,
    )
    audit_record(action="invitation.created", actor=actor_membership.user, organization=organization,
                 target=email, ip_address=ip_address, details={"role": role, "invitation_id": invitation.pk})
    link = invitation_url(token)
    email_after_commit(
        subject=f"You are invited to {organization.name} on Modelbay",
        message=(
            f"{actor_membership.user.email} invited you to join {organization.name} on Modelbay as {role}.\n\n"
            f"Accept within {INVITATION_LIFETIME.days} days: {link}\n"
        ),
        recipients=[email],
    )
    return InviteResult(invitation=invitation, token=token)


def invitation_by_token(*, token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(hashed_token=hash_token(token)).first()
    )
    if invitation is None:
        raise NotFound("This invitation link is not valid; ask for a new one.")
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: User, ip_address: str | None = None) -> Membership:
    invitation = invitation_by_token(token=token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending():
        raise Conflict("This invitation was used, withdrawn or has expired; ask for a new one.")
    if invitation.email.lower() != user.email.lower():
        raise PermissionDenied(
            f"This invitation is for {invitation.email}; log in with that address to accept it."
        )
    membership, _ = Membership.objects.get_or_create(
        user=user, organization=invitation.organization, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(action="invitation.accepted", actor=user, organization=invitation.organization,
                 target=user.email, ip_address=ip_address,
                 details={"role": membership.role, "invitation_id": invitation.pk})
    return membership


@transaction.atomic
def invitation_revoke(
    *, actor_membership: Membership, invitation_id: int, ip_address: str | None = None
) -> Invitation:
    if not actor_membership.can_manage:
        raise PermissionDenied("Only owners and admins can withdraw invitations.")
    invitation = (
        Invitation.objects.select_for_update()
        .filter(organization=actor_membership.organization, pk=invitation_id).first()
    )
    if invitation is None:
        raise NotFound("No such invitation in this organization.")
    if invitation.is_pending():
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(action="invitation.revoked", actor=actor_membership.user,
                     organization=invitation.organization, target=invitation.email, ip_address=ip_address)
    return invitation
