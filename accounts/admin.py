from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.views import redirect_to_login
from django.urls import reverse

from accounts.models import ApiKey, AuditLog, Invitation, Membership, Organization, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = (
        (None, {"fields": ("email", "password", "name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["display_prefix", "name", "organization", "mode", "created_at", "revoked_at", "last_used_at"]
    list_filter = ["mode", "revoked_at"]
    search_fields = ["display_prefix", "name", "organization__slug"]
    readonly_fields = ["hashed_key", "display_prefix", "created_at", "last_used_at"]
    exclude: list[str] = []

    def has_add_permission(self, request) -> bool:
        return False  # keys are created through the API so the secret is shown exactly once


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "actor", "organization", "target", "ip_address"]
    list_filter = ["action"]
    search_fields = ["action", "target", "actor__email", "organization__slug"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role", "accepted_at", "revoked_at"]
    search_fields = ["email", "organization__slug"]
    readonly_fields = ["hashed_token", "organization", "email", "invited_by", "created_at", "accepted_at", "accepted_by"]

    def has_add_permission(self, request) -> bool:
        return False  # invitations are sent from the members page so the link goes out by email


def _login_through_accounts(request, extra_context=None):
    """The admin's own login form takes a password alone; ours also asks for the two-factor code
    and is throttled, so the admin signs in there and comes back."""
    return redirect_to_login(request.GET.get("next") or reverse("admin:index"), reverse("accounts:login"))


admin.site.login = _login_through_accounts
