from django.urls import path

from marketplace.apis import vendor

urlpatterns = [
    path("vendor/models", vendor.ModelListCreateApi.as_view(), name="vendor-models"),
    path("vendor/models/<slug:slug>", vendor.ModelDetailApi.as_view(), name="vendor-model"),
    path("vendor/models/<slug:slug>/versions", vendor.VersionListUploadApi.as_view(), name="vendor-versions"),
    path("vendor/models/<slug:slug>/versions/<str:version>", vendor.VersionDetailApi.as_view(),
         name="vendor-version"),
]
