"""Staff views of listings and versions. Read-mostly: pipeline fields are never edited here
(versions are immutable once ready; changes go through services)."""

from django.contrib import admin

from marketplace.models import Model, ModelVersion, OrganizationDataKey


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ["version", "status", "source_format", "onnx_size", "created_at", "ready_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "organization", "visibility", "status", "updated_at"]
    list_filter = ["visibility", "status"]
    search_fields = ["slug", "name", "organization__slug"]
    readonly_fields = ["organization", "created_at", "updated_at"]
    inlines = [ModelVersionInline]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["model", "version", "status", "source_format", "attempts", "claimed_at", "created_at"]
    list_filter = ["status", "source_format"]
    search_fields = ["model__slug", "model__organization__slug", "version"]
    exclude = ["claim_token"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ModelVersion._meta.fields if f.name != "claim_token"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(OrganizationDataKey)
class OrganizationDataKeyAdmin(admin.ModelAdmin):
    list_display = ["organization", "wrapping_key_id", "created_at"]
    exclude = ["wrapped_key"]  # never shown, even wrapped
    readonly_fields = ["organization", "wrapping_key_id", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
