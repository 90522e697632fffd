from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import health, views
from marketplace import urls_pages as marketplace_pages

urlpatterns = [
    # First: the inference API is the hot path, and Django tries patterns in order.
    path("", include("inference.urls")),  # /v2/... (Open Inference Protocol) and /api/v1/predictions
    path("healthz", health.live, name="healthz"),
    path("readyz", health.ready, name="readyz"),
    path("", views.home, name="home"),
    path("accounts/", include("accounts.urls_pages")),
    path("dashboard/", include("dashboard.urls")),
    path("dashboard/marketplace/", include(marketplace_pages.staff_patterns)),
    path("vendor/", include(marketplace_pages.vendor_patterns)),
    path("catalog/", include(marketplace_pages.catalog_patterns)),
    path("console/", include(marketplace_pages.console_patterns)),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include("core.urls")),
    path("api/v1/", include("marketplace.urls_vendor")),
    path("api/v1/", include("marketplace.urls_catalog")),
    path("api/v1/", include("billing.urls")),
]

# HTML pages for people; the JSON error body under /api/ and /v2/ (core.views decides by path).
handler403 = "core.views.permission_denied"
handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
