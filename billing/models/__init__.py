from billing.models.invoices import Invoice, InvoiceLine
from billing.models.limits import Notification, UsageLimit
from billing.models.payouts import Transfer, VendorAccount, VendorEarning
from billing.models.stripe import (
    ReconciliationRun,
    StripeCustomer,
    StripeEvent,
    StripePrice,
    StripeSubscription,
    UsageWindow,
)
from billing.models.usage import UsageEvent

__all__ = ["Notification", "UsageEvent", "UsageLimit"]
__all__ += [
    "Invoice", "InvoiceLine", "ReconciliationRun", "StripeCustomer", "StripeEvent", "StripePrice",
    "StripeSubscription", "Transfer", "UsageWindow", "VendorAccount", "VendorEarning",
]
