from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts import key_cache, keys
from accounts.models import ApiKey
from accounts.services import api_key_touch


def key_from_header(header: str) -> str | None:
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip()


def api_key_lookup(plaintext: str) -> ApiKey:
    """The key for a plaintext, or AuthenticationFailed. Shared by DRF and the OIP endpoints."""
    if not keys.is_well_formed(plaintext):
        raise exceptions.AuthenticationFailed("Malformed API key: keys look like mb_live_... or mb_test_...")
    hashed = keys.hash_key(plaintext)
    api_key = key_cache.get(hashed)
    if api_key is None:
        api_key = (
            ApiKey.objects.select_related("organization", "created_by").filter(hashed_key=hashed).first()
        )
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown API key.")
        key_cache.put(hashed, api_key)
    now = timezone.now()
    if api_key.revoked_at is not None:
        raise exceptions.AuthenticationFailed("This API key was revoked; create a new one.")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise exceptions.AuthenticationFailed("This API key has expired; create a new one.")
    resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is None or now - api_key.last_used_at > resolution:
        api_key_touch(api_key=api_key, now=now)
    return api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer mb_live_...`; request.auth is the ApiKey, request.user its creator."""

    def authenticate(self, request: Request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        plaintext = key_from_header(header)
        if plaintext is None:
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        api_key = api_key_lookup(plaintext)
        user = api_key.created_by
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("The user who created this key is no longer active.")
        return user, api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="modelbay"'
