"""Reads for entitlements. `entitlement_for` runs on every inference call, so it is one cached
lookup: Redis (Django's cache) holds the answer per (buyer org, model), including "none", tagged
with a generation that every entitlement change bumps, now and again after commit
(`entitlement_cache_forget`), so no process serves an answer older than the last change.

The gateway goes one step further: it reads the generation in the same Redis round trip as its
rate limit (`entitlement_generation_key`) and passes it in; while it matches, the answer comes
from this process's memory without unpickling anything.

Ownership: the vendor's own organization needs no entitlement. `require_entitlement` returns
None for the owner; callers treat None as "owner: allowed, not billed".
"""

import time

from django.core.cache import cache
from django.db.models import QuerySet
from django.urls import reverse

from accounts.models import Organization
from core.errors import LicenseNotAccepted
from marketplace.models import Entitlement, License, LicenseAcceptance, Model

_NONE = "none"
CACHE_SECONDS = 300
MEMO_SECONDS = 10  # bounds staleness if Redis loses the generation (a restart without persistence)
_memo: dict[tuple[int, int], tuple[int, float, Entitlement | None]] = {}


def _keys(organization_id: int, model_id: int) -> tuple[str, str]:
    return f"entitlement:gen:{organization_id}:{model_id}", f"entitlement:{organization_id}:{model_id}"


def entitlement_cache_forget(*, organization_id: int, model_id: int) -> None:
    """Bumps the generation, so an answer computed before the change can never be served after
    it, even if a concurrent reader stores it late."""
    gen_key, _ = _keys(organization_id, model_id)
    cache.add(gen_key, 0, timeout=None)
    try:
        cache.incr(gen_key)
    except ValueError:  # evicted between add and incr
        cache.set(gen_key, 1, timeout=None)


def entitlement_generation_key(*, organization_id: int, model_id: int) -> str:
    """The Redis key holding the generation (an integer, stored unpickled by Django's cache).
    Readable with core.redis's client because the cache lives on the same REDIS_URL (settings)."""
    return cache.make_and_validate_key(_keys(organization_id, model_id)[0])


def entitlement_for(*, organization: Organization, model: Model, generation: int | None = None) -> Entitlement | None:
    """The buyer's active entitlement to the model (plan and license loaded), or None.
    A cache hit is one Redis round trip (generation and answer read together), or none when the
    caller read the current `generation` already."""
    memo_key = (organization.pk, model.pk)
    memo = _memo.get(memo_key) if generation is not None else None
    if memo is not None and memo[0] == generation and memo[1] > time.monotonic():
        entitlement = memo[2]
    else:
        generation, entitlement = _lookup(organization_id=organization.pk, model_id=model.pk)
        _memo[memo_key] = (generation, time.monotonic() + MEMO_SECONDS, entitlement)
    if entitlement is not None and entitlement.license.is_expired():
        return None
    return entitlement


def _lookup(*, organization_id: int, model_id: int) -> tuple[int, Entitlement | None]:
    gen_key, key = _keys(organization_id, model_id)
    found = cache.get_many([gen_key, key])
    generation = found.get(gen_key, 0)
    cached = found.get(key)
    if isinstance(cached, tuple) and cached[0] == generation:
        return generation, None if cached[1] == _NONE else cached[1]
    entitlement = (
        Entitlement.objects.select_related("plan", "license")
        .filter(organization_id=organization_id, model_id=model_id, status=Entitlement.Status.ACTIVE)
        .first()
    )
    cache.set(key, (generation, entitlement or _NONE), CACHE_SECONDS)
    return generation, entitlement


def entitlement_memo_clear() -> None:
    _memo.clear()


def subscribe_url(model: Model) -> str:
    return reverse("catalog-subscribe", kwargs={"vendor": model.organization.slug, "slug": model.slug})


def require_entitlement(*, organization: Organization, model: Model,
                        generation: int | None = None) -> Entitlement | None:
    """The entitlement, None for the model's owner, or LicenseNotAccepted saying how to subscribe."""
    if model.organization_id == organization.pk:
        return None
    entitlement = entitlement_for(organization=organization, model=model, generation=generation)
    if entitlement is not None:
        return entitlement
    license = License.objects.filter(model=model, is_current=True).only("pk", "identifier", "revision").first()
    raise LicenseNotAccepted(
        f"Your organization has not accepted the license of {model.full_name}. Read the license, then "
        f"POST to the subscribe URL with a plan id, your declared use and territory.",
        details={
            "model": model.full_name,
            "license_id": license.pk if license else None,
            "license_url": reverse("catalog-license", kwargs={"vendor": model.organization.slug, "slug": model.slug}),
            "subscribe_url": subscribe_url(model),
        },
    )


def entitlements_of(*, organization: Organization) -> QuerySet[Entitlement]:
    return Entitlement.objects.filter(organization=organization).select_related(
        "model__organization", "plan", "license")


def acceptances_of(*, organization: Organization) -> QuerySet[LicenseAcceptance]:
    """Acceptances the organization gave as a buyer."""
    return LicenseAcceptance.objects.filter(organization=organization).select_related("license__model__organization")


def acceptances_received(*, organization: Organization) -> QuerySet[LicenseAcceptance]:
    """Acceptances of licenses on the organization's own models (the vendor's side)."""
    return LicenseAcceptance.objects.filter(license__model__organization=organization).select_related(
        "license__model__organization")
