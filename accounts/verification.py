"""Proving an email address: signed links, and the notes sign-up sends instead of saying
"this email has an account" on the page.

A link is a Django signature of (user id, address) with its own salt and a timestamp, valid for
EMAIL_VERIFICATION_MAX_AGE_SECONDS; nothing is stored. Changing the address voids old links.
Only self-service sign-ups start unverified (accounts.models.User.email_verified_at).
"""

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from core.errors import InvalidInput, RateLimited
from core.mail import email_after_commit
from core.redis import get_redis

_SALT = "accounts.email-verification"
RESEND_INTERVAL_SECONDS = 60


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def verification_url(*, user: User) -> str:
    token = signing.dumps({"u": user.pk, "e": user.email}, salt=_SALT, compress=True)
    return _absolute(reverse("accounts:verify-email", kwargs={"token": token}))


def verification_send(*, user: User) -> None:
    """Emails the confirmation link (after commit, so the link never names an uncommitted user)."""
    link = verification_url(user=user)
    days = settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS // 86400
    email_after_commit(
        subject="Confirm your email address for Modelbay",
        message=(
            "Open this link to confirm that this address is yours:\n\n"
            f"{link}\n\n"
            f"It works for {days} days. Until then you can sign in and create test keys; live keys "
            "need a confirmed address.\nIf you did not sign up for Modelbay, ignore this email.\n"
        ),
        recipients=[user.email],
    )


def verification_resend(*, user: User) -> None:
    """At most one email a minute per user, so the button cannot flood an inbox."""
    if user.email_verified:
        raise InvalidInput("Your email address is confirmed already.")
    if not get_redis().set(f"mb:verify:resend:{user.pk}", 1, ex=RESEND_INTERVAL_SECONDS, nx=True):
        raise RateLimited(
            "We sent a link less than a minute ago; check your inbox and spam folder, or try again "
            "in a minute.", details={"retry_after_seconds": RESEND_INTERVAL_SECONDS},
        )
    verification_send(user=user)


@transaction.atomic
def email_verify(*, token: str, ip_address: str | None = None) -> User:
    """Marks the address in a valid link as confirmed; a link used twice is harmless."""
    try:
        data = signing.loads(token, salt=_SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise InvalidInput("This confirmation link has expired; sign in and send a new one from the "
                           "API keys page.") from None
    except signing.BadSignature:
        raise InvalidInput("This confirmation link is not valid; copy the whole link from the email, "
                           "or sign in and send a new one.") from None
    user = User.objects.select_for_update().filter(pk=data.get("u"), email=data.get("e")).first()
    if user is None:
        raise InvalidInput("This confirmation link no longer matches an account; sign in and send a new one.")
    email_mark_verified(user=user, ip_address=ip_address)
    return user


def email_mark_verified(*, user: User, ip_address: str | None = None) -> None:
    """For any proof of the inbox: a confirmation link, or a completed password reset."""
    if user.email_verified_at is None:
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
        audit_record(action="user.email_verified", actor=user, target=user.email, ip_address=ip_address)


def existing_account_notice_send(*, user: User) -> None:
    """Sign-up with a taken address answers like any sign-up; the owner learns of it by email."""
    login = _absolute(reverse("accounts:login"))
    reset = _absolute(reverse("accounts:password-reset"))
    confirm = "" if user.email_verified else (
        f"\nYour address is not confirmed yet; this link confirms it:\n{verification_url(user=user)}\n"
    )
    email_after_commit(
        subject="Someone tried to sign up to Modelbay with your address",
        message=(
            "Someone, maybe you, tried to create a Modelbay account with this email address. "
            "You have an account already, so nothing was created.\n\n"
            f"Sign in: {login}\nForgot your password? Choose a new one: {reset}\n{confirm}\n"
            "If it was not you, you can ignore this email; your account is unchanged.\n"
        ),
        recipients=[user.email],
    )
