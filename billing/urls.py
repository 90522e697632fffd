from django.urls import path

from billing.apis import buyer, ops, vendor, webhook

urlpatterns = [
    path("billing/stripe/webhook", webhook.StripeWebhookApi.as_view(), name="billing-stripe-webhook"),
    path("billing/invoices", buyer.InvoiceListApi.as_view(), name="billing-invoices"),
    path("billing/usage", buyer.UsageApi.as_view(), name="billing-usage"),
    path("billing/checkout", buyer.CheckoutApi.as_view(), name="billing-checkout"),
    path("vendor/earnings", vendor.EarningsApi.as_view(), name="vendor-earnings"),
    path("vendor/payouts/onboarding", vendor.OnboardingApi.as_view(), name="vendor-payouts-onboarding"),
    path("ops/reconciliation", ops.ReconciliationApi.as_view(), name="ops-reconciliation"),
]
