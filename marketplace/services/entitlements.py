"""Subscribing (accept the license + choose a plan) and cancelling."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Organization, User
from accounts.services import audit_record
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from marketplace.models import Entitlement, License, LicenseAcceptance, Model, Plan
from marketplace.selectors.entitlements import entitlement_cache_forget
from marketplace.services.licensing import license_accept

PERIOD = timedelta(days=30)


def _forget_after_commit(entitlement: Entitlement) -> None:
    org_id, model_id = entitlement.organization_id, entitlement.model_id
    entitlement_cache_forget(organization_id=org_id, model_id=model_id)
    transaction.on_commit(lambda: entitlement_cache_forget(organization_id=org_id, model_id=model_id))


def license_check_terms(*, license: License, declared_use: str, territory: str) -> None:
    """Raises PermissionDenied naming the term that refuses this use."""
    if license.is_expired():
        raise PermissionDenied(f"License {license.identifier} revision {license.revision} has expired; "
                               "ask the vendor for a current license.", code="license_expired")
    if declared_use == LicenseAcceptance.Use.COMMERCIAL and not license.commercial_use:
        raise PermissionDenied(
            f"The license {license.identifier} does not allow commercial use. Subscribe with declared_use "
            "'non_commercial' or 'research' if that is your use, or ask the vendor for a commercial license.",
            code="license_forbids_use", details={"license_id": license.pk, "declared_use": declared_use})
    if not license.allows_territory(territory):
        raise PermissionDenied(
            f"The license {license.identifier} does not allow use in {territory.upper()}.",
            code="license_forbids_territory",
            details={"license_id": license.pk, "territory": territory.upper(),
                     "territory_mode": license.territory_mode, "territories": license.territories})


@transaction.atomic
def entitlement_subscribe(
    *, organization: Organization, user: User | None, model: Model, plan_id: int, declared_use: str,
    territory: str = "", license_id: int | None = None, ip_address: str | None = None,
) -> Entitlement:
    """Accepts the model's current license and subscribes to one of its plans. An existing active
    entitlement is replaced (a plan change); the old one is cancelled, both stay on record."""
    if model.organization_id == organization.pk:
        raise Conflict("Your organization owns this model and may call it without subscribing.")
    if declared_use not in LicenseAcceptance.Use.values:
        raise InvalidInput(f"declared_use must be one of {', '.join(LicenseAcceptance.Use.values)}.")
    # Read the registered country fresh: the organization on a request may come from the key cache.
    registered = (Organization.objects.filter(pk=organization.pk).values_list("country", flat=True).first() or "")
    territory = (territory or registered).strip().upper()
    if len(territory) != 2 or not territory.isalpha():
        raise InvalidInput("Declare your territory as an ISO 3166-1 alpha-2 country code, e.g. 'DE'.")
    license = License.objects.filter(model=model, is_current=True).first()
    if license is None:
        raise Conflict("This model has no license yet, so it cannot be subscribed to.")
    if license_id is not None and license_id != license.pk:
        raise Conflict("The license changed since you read it; read the current revision and accept that.",
                       details={"current_license_id": license.pk, "revision": license.revision})
    license_check_terms(license=license, declared_use=declared_use, territory=territory)
    if registered and registered.upper() != territory:
        license_check_terms(license=license, declared_use=declared_use, territory=registered)
    plan = Plan.objects.filter(model=model, pk=plan_id, is_active=True).first()
    if plan is None:
        raise NotFound("No such active plan on this model; pick one from the model's plans.")
    acceptance = license_accept(license=license, organization=organization, user=user,
                                declared_use=declared_use, territory=territory, ip_address=ip_address)
    now = timezone.now()
    for old in Entitlement.objects.select_for_update().filter(
        organization=organization, model=model, status=Entitlement.Status.ACTIVE
    ):
        old.status, old.cancelled_at = Entitlement.Status.CANCELLED, now
        old.save(update_fields=["status", "cancelled_at"])
    quotas = [q for q in (plan.monthly_quota, license.max_monthly_calls) if q is not None]
    entitlement = Entitlement.objects.create(
        organization=organization, model=model, plan=plan, license=license, acceptance=acceptance,
        period_start=now, period_end=now + PERIOD, monthly_quota=min(quotas) if quotas else None,
    )
    _forget_after_commit(entitlement)
    audit_record(action="entitlement.created", actor=user, organization=organization, target=model.full_name,
                 ip_address=ip_address, details={"entitlement_id": entitlement.pk, "plan_id": plan.pk,
                                                 "license_id": license.pk, "monthly_quota": entitlement.monthly_quota})
    return entitlement


@transaction.atomic
def entitlement_set_status(
    *, organization: Organization, entitlement_id: int, status: str, actor: User | None,
    ip_address: str | None = None,
) -> Entitlement:
    """Cancel (buyer) or suspend/reactivate; scoped to the buyer organization."""
    entitlement = Entitlement.objects.select_for_update().filter(organization=organization, pk=entitlement_id).first()
    if entitlement is None:
        raise NotFound("No such entitlement in this organization.")
    if entitlement.status == Entitlement.Status.CANCELLED:
        return entitlement
    previous = entitlement.status
    entitlement.status = status
    entitlement.cancelled_at = timezone.now() if status == Entitlement.Status.CANCELLED else None
    entitlement.save(update_fields=["status", "cancelled_at"])
    _forget_after_commit(entitlement)
    audit_record(action=f"entitlement.{status}", actor=actor, organization=organization,
                 target=entitlement.model.full_name, ip_address=ip_address,
                 details={"entitlement_id": entitlement.pk, "from": previous, "to": status})
    return entitlement


def entitlements_cancel_all(*, organization: Organization, actor: User | None) -> int:
    """Used by erasure: ends every active entitlement of the organization."""
    ids = list(Entitlement.objects.filter(organization=organization, status=Entitlement.Status.ACTIVE)
               .values_list("pk", flat=True))
    for pk in ids:
        entitlement_set_status(organization=organization, entitlement_id=pk,
                               status=Entitlement.Status.CANCELLED, actor=actor)
    return len(ids)
