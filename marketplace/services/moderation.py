"""Staff moderation of listings: suspend (with a reason the vendor sees) and reinstate.

A suspended model leaves the catalog at once (`catalog_models` lists only published ones) and
cannot be re-published by its vendor; existing buyers' entitlement caches are forgotten so the
gateway stops serving it within one request.
"""

from django.db import transaction

from accounts.models import User
from accounts.services import audit_record
from core.errors import InvalidInput
from marketplace.models import Entitlement, Model
from marketplace.selectors.entitlements import entitlement_cache_forget


def _forget_entitlements(model: Model) -> None:
    org_ids = list(Entitlement.objects.filter(model=model).values_list("organization_id", flat=True).distinct())
    for org_id in org_ids:
        entitlement_cache_forget(organization_id=org_id, model_id=model.pk)
    transaction.on_commit(lambda: [entitlement_cache_forget(organization_id=o, model_id=model.pk) for o in org_ids])


@transaction.atomic
def model_suspend(*, model: Model, actor: User | None, reason: str, ip_address: str | None = None) -> Model:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Give the vendor a reason for the suspension: they see it on their model page.")
    model = Model.objects.select_for_update().select_related("organization").get(pk=model.pk)
    model.status, model.suspended_reason = Model.Status.SUSPENDED, reason
    model.save(update_fields=["status", "suspended_reason", "updated_at"])
    _forget_entitlements(model)
    audit_record(action="model.suspended", actor=actor, organization=model.organization, target=model.full_name,
                 ip_address=ip_address, details={"reason": reason})
    return model


@transaction.atomic
def model_reinstate(*, model: Model, actor: User | None, ip_address: str | None = None) -> Model:
    """Approves a listing: a suspended model goes back to draft (its vendor publishes it again)."""
    model = Model.objects.select_for_update().select_related("organization").get(pk=model.pk)
    if model.status == Model.Status.SUSPENDED:
        model.status, model.suspended_reason = Model.Status.DRAFT, ""
        model.save(update_fields=["status", "suspended_reason", "updated_at"])
        _forget_entitlements(model)
        audit_record(action="model.reinstated", actor=actor, organization=model.organization,
                     target=model.full_name, ip_address=ip_address)
    return model
