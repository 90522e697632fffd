from django.urls import path

from marketplace.apis import buyer, catalog, vendor_terms

_model = "catalog/models/<slug:vendor>/<slug:slug>"
_vendor = "vendor/models/<slug:slug>"

urlpatterns = [
    path("catalog/models", catalog.CatalogListApi.as_view(), name="catalog-models"),
    path(_model, catalog.CatalogDetailApi.as_view(), name="catalog-model"),
    path(f"{_model}/license", catalog.CatalogLicenseApi.as_view(), name="catalog-license"),
    path(f"{_model}/subscribe", buyer.SubscribeApi.as_view(), name="catalog-subscribe"),
    path(f"{_model}/download", buyer.DownloadApi.as_view(), name="catalog-download"),
    path("entitlements", buyer.EntitlementListApi.as_view(), name="entitlements"),
    path("entitlements/<int:entitlement_id>", buyer.EntitlementDetailApi.as_view(), name="entitlement-detail"),
    path("acceptances", buyer.AcceptanceListApi.as_view(), name="acceptances"),
    path("acceptances/<int:acceptance_id>/receipt", buyer.AcceptanceReceiptApi.as_view(), name="acceptance-receipt"),
    path("receipts/verify", buyer.ReceiptVerifyApi.as_view(), name="receipt-verify"),
    path("vendor/license-presets", vendor_terms.LicensePresetsApi.as_view(), name="vendor-license-presets"),
    path(f"{_vendor}/license", vendor_terms.LicenseApi.as_view(), name="vendor-license"),
    path(f"{_vendor}/plans", vendor_terms.PlanListCreateApi.as_view(), name="vendor-plans"),
    path(f"{_vendor}/plans/<int:plan_id>", vendor_terms.PlanDetailApi.as_view(), name="vendor-plan"),
    path(f"{_vendor}/publish", vendor_terms.PublishApi.as_view(), name="vendor-publish"),
    path(f"{_vendor}/unpublish", vendor_terms.UnpublishApi.as_view(), name="vendor-unpublish"),
    path(f"{_vendor}/acceptances", vendor_terms.AcceptancesReceivedApi.as_view(), name="vendor-acceptances"),
]
