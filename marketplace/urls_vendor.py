from django.urls import path

from marketplace.apis import uploads, vendor

urlpatterns = [
    path("vendor/models", vendor.ModelListCreateApi.as_view(), name="vendor-models"),
    path("vendor/models/<slug:slug>", vendor.ModelDetailApi.as_view(), name="vendor-model"),
    path("vendor/models/<slug:slug>/versions", vendor.VersionListUploadApi.as_view(), name="vendor-versions"),
    path("vendor/models/<slug:slug>/versions/<str:version>", vendor.VersionDetailApi.as_view(),
         name="vendor-version"),
    path("vendor/models/<slug:slug>/uploads", uploads.UploadOpenApi.as_view(), name="vendor-uploads"),
    path("vendor/uploads/<uuid:session_id>", uploads.UploadDetailApi.as_view(), name="vendor-upload"),
    path("vendor/uploads/<uuid:session_id>/files/<int:index>/parts/<int:number>", uploads.UploadPartApi.as_view(),
         name="vendor-upload-part"),
    path("vendor/uploads/<uuid:session_id>/complete", uploads.UploadCompleteApi.as_view(),
         name="vendor-upload-complete"),
]
