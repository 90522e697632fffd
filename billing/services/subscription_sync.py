"""Beat: Stripe subscriptions follow the entitlements.

A new paid entitlement gets its subscription; an ended one first has its usage sent to the meter
(usage_sync, flushed) and is then cancelled with `invoice_now`, so its last hours are invoiced.
It sits above `stripe_sync` (the Stripe objects) and `usage_sync` (the meter events); usage_sync
uses stripe_sync, never the other way.
"""

from __future__ import annotations

from billing.models import StripeSubscription
from billing.services.stripe_sync import PAID_KINDS, subscription_cancel, subscription_ensure
from billing.services.usage_sync import usage_sync
from marketplace.models import Entitlement


def stripe_objects_sync() -> dict[str, int]:
    """Beat: subscriptions for new paid entitlements, cancellations for ended ones."""
    created = cancelled = 0
    pending = (Entitlement.objects.filter(status=Entitlement.Status.ACTIVE, plan__kind__in=PAID_KINDS,
                                          stripe_subscription__isnull=True)
               .select_related("plan__model__organization", "organization"))
    for entitlement in pending:
        subscription_ensure(entitlement=entitlement)
        created += 1
    ended = StripeSubscription.objects.exclude(status="canceled").exclude(
        entitlement__status=Entitlement.Status.ACTIVE).select_related("entitlement")
    for subscription in ended:
        usage_sync(organization=subscription.entitlement.organization, flush=True)
        subscription_cancel(subscription=subscription)
        cancelled += 1
    return {"created": created, "cancelled": cancelled}
