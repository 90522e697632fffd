"""Two-factor sign-in with an authenticator app (TOTP, RFC 6238) and one-time backup codes,
on django-otp's devices. Enrolment is two steps: a pending device shows its secret as a QR code,
and only a correct code from the app confirms it, so nobody is locked out by a mistyped scan.

django-otp throttles each device (1, 2, 4, ... seconds after successive wrong codes); the login
step also counts wrong codes as failed logins, so django-axes locks out code guessing too.
"""

import base64

import qrcode
import qrcode.image.svg
from django.db import transaction
from django_otp import devices_for_user, user_has_device
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.services import audit_record
from core.errors import Conflict, InvalidInput, RateLimited

BACKUP_CODES = 10
_DEVICE_NAME = "authenticator app"


def two_factor_enabled(user: User) -> bool:
    return user.is_authenticated and user_has_device(user, confirmed=True)


def totp_pending(*, user: User) -> TOTPDevice:
    """The unconfirmed device an enrolment shows; the same one until confirmed, so reloading the
    page does not invalidate a code already scanned."""
    if two_factor_enabled(user):
        raise Conflict("Two-factor sign-in is on already; turn it off first to use another app.")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=_DEVICE_NAME, confirmed=False)


def totp_secret(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed in (base32, in groups of four)."""
    raw = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def totp_qr_svg(device: TOTPDevice) -> str:
    """The provisioning URI as an inline SVG: no image file, no third-party QR service."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


def _verify(devices: list[Device], token: str) -> Device | None:
    token = "".join(token.split())
    if not token:
        return None
    with transaction.atomic():
        for device in devices:
            # Rows locked, as django_otp.verify_token does, so one code cannot be used twice at once.
            device = type(device).objects.select_for_update().get(pk=device.pk)
            allowed, info = device.verify_is_allowed()
            if not allowed and info and info.get("locked_until"):
                raise RateLimited(
                    "Too many wrong codes in a row; wait a few seconds, then enter the current code.",
                    details={"locked_until": info["locked_until"].isoformat()},
                )
            if device.verify_token(token):
                return device
    return None


def two_factor_verify(*, user: User, token: str) -> Device | None:
    """The confirmed device (app or backup codes) that accepts the code, or None."""
    return _verify(list(devices_for_user(user, confirmed=True)), token)


def totp_confirm(*, user: User, token: str, ip_address: str | None = None) -> tuple[Device, list[str]]:
    """Turns two-factor sign-in on; returns the device and fresh backup codes (shown once)."""
    # Verified outside the transaction below, so a wrong code's throttle step is kept.
    device = totp_pending(user=user)
    if _verify([device], token) is None:
        raise InvalidInput("That code does not match; enter the 6-digit code your app shows now "
                           "(it changes every 30 seconds).")
    with transaction.atomic():
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        StaticDevice.objects.filter(user=user).delete()
        backup = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
        StaticToken.objects.bulk_create([StaticToken(device=backup, token=code) for code in codes])
        audit_record(action="user.two_factor_enabled", actor=user, target=user.email, ip_address=ip_address)
    device.refresh_from_db()
    return device, codes


def two_factor_disable(*, user: User, token: str, ip_address: str | None = None) -> None:
    """Turns it off, proven by a current code or a backup code (a stolen session alone cannot)."""
    if not two_factor_enabled(user):
        raise Conflict("Two-factor sign-in is off already.")
    # Outside the transaction below: a wrong code's throttle step must be kept, or guessing is free.
    if two_factor_verify(user=user, token=token) is None:
        raise InvalidInput("That code does not match; enter the code your app shows now, or one of "
                           "your backup codes.")
    with transaction.atomic():
        for model in (TOTPDevice, StaticDevice):
            model.objects.filter(user=user).delete()
        audit_record(action="user.two_factor_disabled", actor=user, target=user.email, ip_address=ip_address)
