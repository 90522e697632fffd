"""Delinquency follows Stripe's invoices: a failed payment marks the buyer (the grace period
starts then), a paid invoice lifts it once no other failed invoice is still open."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from accounts.services import audit_record
from billing.models import Invoice, StripeCustomer
from billing.selectors.accounts import delinquency_cache_forget


@transaction.atomic
def delinquency_mark(*, customer: StripeCustomer, invoice: Invoice, failed_at: datetime) -> bool:
    """Marks the customer delinquent from `failed_at` unless already marked; True if it changed."""
    changed = StripeCustomer.objects.filter(pk=customer.pk, delinquent_since__isnull=True).update(
        delinquent_since=failed_at, delinquent_invoice=invoice.stripe_id or "")
    if changed:
        audit_record(action="billing.delinquent", organization=customer.organization, target=invoice.stripe_id or "",
                     details={"invoice": invoice.stripe_id, "failed_at": failed_at.isoformat()})
        transaction.on_commit(lambda: delinquency_cache_forget(organization_id=customer.organization_id))
    delinquency_cache_forget(organization_id=customer.organization_id)
    return bool(changed)


@transaction.atomic
def delinquency_lift(*, customer: StripeCustomer, paid_invoice: Invoice) -> bool:
    still_unpaid = (Invoice.objects.filter(organization_id=customer.organization_id, source=Invoice.Source.STRIPE,
                                           status=Invoice.Status.OPEN, amount_paid_minor=0)
                    .exclude(pk=paid_invoice.pk).filter(stripe_id=customer.delinquent_invoice).exists())
    if still_unpaid:
        return False
    changed = StripeCustomer.objects.filter(pk=customer.pk, delinquent_since__isnull=False).update(
        delinquent_since=None, delinquent_invoice="")
    if changed:
        audit_record(action="billing.delinquency_lifted", organization=customer.organization,
                     target=paid_invoice.stripe_id or "", details={"invoice": paid_invoice.stripe_id})
        transaction.on_commit(lambda: delinquency_cache_forget(organization_id=customer.organization_id))
    delinquency_cache_forget(organization_id=customer.organization_id)
    return bool(changed)
