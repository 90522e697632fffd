from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class DashboardConfig(AppConfig):
    name = "dashboard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every app's staff_dashboard.py registers its KPI cards, series and sections.
        autodiscover_modules("staff_dashboard")
