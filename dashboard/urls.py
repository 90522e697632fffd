from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.index, name="index"),
    path("health/", views.health, name="health"),
    path("audit/", views.audit_log, name="audit"),
]
