"""API-key authentication, shared by DRF (`ApiKeyAuthentication`) and the inference gateway.

`api_key_lookup(plaintext, ip=...)` does, in order:
1. one Redis round trip: the caller's failure count and the key's revocation generation;
2. an address with API_KEY_FAILURE_LIMIT failures within API_KEY_FAILURE_WINDOW_SECONDS gets
   `KeyFailuresThrottled` (429, details.retry_after) before any database lookup, so guessing keys
   from one address is slow whatever the key;
3. the key from this process's cache if it was cached under the current generation (a revocation
   anywhere changed it), else from the database;
4. any refusal (malformed, unknown, revoked, expired) counts one failure for the address.
"""

from datetime import timedelta

import redis
from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts import key_cache, keys
from accounts.models import ApiKey
from accounts.services import api_key_touch
from accounts.tenancy import client_ip
from core.errors import RateLimited, ServiceUnavailable
from core.redis import get_redis


class KeyFailuresThrottled(RateLimited):
    """Too many refused keys from one address; `retry_after` (seconds) is also in details."""

    code = "too_many_failed_keys"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"Too many refused API keys from your address; retry in {retry_after} s. Check that you "
            "send the whole key (mb_live_... or mb_test_...) and that it is not revoked or expired.",
            # Both spellings: `retry_after` is this error's contract; `retry_after_seconds` is the
            # one core.errors turns into a Retry-After header.
            details={"retry_after": retry_after, "retry_after_seconds": retry_after},
        )


def key_from_header(header: str) -> str | None:
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip()


def _failures_key(ip: str) -> str:
    return f"mb:apikey:fail:{ip}"


def _record_failure(ip: str | None) -> None:
    if not ip:
        return
    name = _failures_key(ip)
    # A fixed window that starts with the first failure: SET NX EX opens it, INCR keeps its TTL.
    with get_redis().pipeline(transaction=False) as pipe:
        pipe.set(name, 0, ex=settings.API_KEY_FAILURE_WINDOW_SECONDS, nx=True)
        pipe.incr(name)
        pipe.execute()


def _retry_after(ip: str) -> int:
    ttl = get_redis().ttl(_failures_key(ip))
    return max(int(ttl), 1) if ttl and ttl > 0 else settings.API_KEY_FAILURE_WINDOW_SECONDS


def api_key_failures_reset(*, ip: str) -> None:
    """Forgets an address's failures (staff unblocking a customer's NAT, tests)."""
    get_redis().delete(_failures_key(ip))


def api_key_lookup(plaintext: str, *, ip: str | None = None) -> ApiKey:
    """The usable key for a plaintext. Raises KeyFailuresThrottled (429) for an address over the
    failure limit, AuthenticationFailed (401) for a bad key, ServiceUnavailable (503) when Redis,
    which holds the throttle and the revocation generations, cannot be reached.

    Pass `ip` (accounts.tenancy.client_ip(request)) whenever there is a request: without it the
    failure throttle cannot apply."""
    hashed = keys.hash_key(plaintext)
    try:
        if ip:
            failures, generation = get_redis().mget([_failures_key(ip), key_cache.generation_key(hashed)])
        else:
            failures, generation = None, get_redis().get(key_cache.generation_key(hashed))
        if failures is not None and int(failures) >= settings.API_KEY_FAILURE_LIMIT:
            raise KeyFailuresThrottled(_retry_after(ip))
        try:
            api_key = _usable_key(plaintext, hashed, int(generation or 0))
        except exceptions.AuthenticationFailed:
            _record_failure(ip)
            raise
    except redis.RedisError as exc:
        raise ServiceUnavailable("Key checks are unavailable for a moment; retry shortly.") from exc
    now = timezone.now()
    resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is None or now - api_key.last_used_at > resolution:
        api_key_touch(api_key=api_key, now=now)
    return api_key


def _usable_key(plaintext: str, hashed: str, generation: int) -> ApiKey:
    if not keys.is_well_formed(plaintext):
        raise exceptions.AuthenticationFailed("Malformed API key: keys look like mb_live_... or mb_test_...")
    api_key = key_cache.get(hashed, generation)
    if api_key is None:
        api_key = (
            ApiKey.objects.select_related("organization", "created_by").filter(hashed_key=hashed).first()
        )
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown API key.")
        key_cache.put(hashed, generation, api_key)
    if api_key.revoked_at is not None:
        raise exceptions.AuthenticationFailed("This API key was revoked; create a new one.")
    if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
        raise exceptions.AuthenticationFailed("This API key has expired; create a new one.")
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
        try:
            api_key = api_key_lookup(plaintext, ip=client_ip(request))
        except KeyFailuresThrottled as exc:
            # DRF's Throttled is what core.exceptions' handler answers with a Retry-After header;
            # `wait` is set afterwards so DRF does not append its own sentence to the message.
            throttled = exceptions.Throttled(detail=exc.message)
            throttled.wait = exc.retry_after
            raise throttled from None
        user = api_key.created_by
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("The user who created this key is no longer active.")
        return user, api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="modelbay"'
