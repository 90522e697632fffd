from django.contrib import admin

from billing.models import Notification, UsageEvent, UsageLimit


@admin.register(UsageEvent)
class UsageEventAdmin(admin.ModelAdmin):
    list_display = ["request_id", "organization", "model", "version", "units", "compute_ms", "amount_minor",
                    "currency", "created_at"]
    list_filter = ["currency"]
    search_fields = ["request_id", "organization__slug"]
    date_hierarchy = "created_at"

    # The ledger is append-only: staff read it, nobody edits it here.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageLimit)
class UsageLimitAdmin(admin.ModelAdmin):
    list_display = ["organization", "api_key", "spend_cap_minor", "currency", "monthly_calls", "updated_at"]
    raw_id_fields = ["organization", "api_key"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["kind", "subject", "period", "threshold", "organization", "created_at", "emailed_at"]
    list_filter = ["kind", "threshold"]
