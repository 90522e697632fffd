"""HTML pages: vendor portal (/vendor/), catalog (/catalog/), buyer console (/console/) and the
staff moderation actions (/dashboard/marketplace/). The URL module is the one place that wires
views of several apps together (billing's usage pages and inference's playground sit in the
console); the views themselves only use their own app's and lower apps' services."""

from django.urls import path

from billing import views as billing_views
from inference import views as inference_views
from marketplace.views import catalog, console, staff, vendor, vendor_terms

_model = "models/<slug:slug>/"

vendor_patterns = ([
    path("", vendor.models_list, name="models"),
    path("models/new/", vendor.model_create_page, name="model-create"),
    path(_model, vendor.model_detail, name="model"),
    path(f"{_model}edit/", vendor.model_edit, name="model-edit"),
    path(f"{_model}upload/", vendor.upload, name="upload"),
    path(f"{_model}versions/<str:version>/", vendor.version_detail, name="version"),
    path(f"{_model}versions/<str:version>/timeline/", vendor.version_timeline, name="version-timeline"),
    path(f"{_model}license/", vendor_terms.license_edit, name="license"),
    path(f"{_model}license/check/", vendor_terms.license_check, name="license-check"),
    path(f"{_model}plans/", vendor_terms.plans_edit, name="plans"),
    path(f"{_model}plans/preview/", vendor_terms.plan_preview, name="plan-preview"),
    path(f"{_model}plans/<int:plan_id>/active/", vendor_terms.plan_toggle, name="plan-toggle"),
    path(f"{_model}publish/", vendor_terms.publish, name="publish"),
    path("earnings/", billing_views.earnings, name="earnings"),
    path("earnings/payouts/onboarding/", billing_views.payouts_onboarding, name="payouts-onboarding"),
], "vendor")

catalog_patterns = ([
    path("", catalog.catalog_list, name="list"),
    path("<slug:vendor>/<slug:slug>/", catalog.catalog_detail, name="detail"),
], "catalog")

console_patterns = ([
    path("", console.home, name="home"),
    path("subscribe/<slug:vendor>/<slug:slug>/", console.subscribe, name="subscribe"),
    path("subscribe/done/", console.checkout_done, name="checkout-done"),
    path("subscriptions/<int:entitlement_id>/cancel/", console.cancel, name="cancel"),
    path("playground/<slug:vendor>/<slug:slug>/", inference_views.playground, name="playground"),
    path("usage/", billing_views.usage, name="usage"),
    path("usage/limits/", billing_views.spend_cap, name="spend-cap"),
    path("invoices/", billing_views.invoices, name="invoices"),
    path("data/", console.data, name="data"),
], "console")

staff_patterns = ([
    path("models/<int:model_id>/suspend/", staff.suspend, name="suspend"),
    path("models/<int:model_id>/reinstate/", staff.reinstate, name="reinstate"),
], "staff-marketplace")
