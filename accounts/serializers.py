from rest_framework import serializers

from accounts.forms import SCOPE_HELP
from accounts.models import ApiKey, AuditLog, Membership, Organization

SCOPES_DOC = "What the key may do; give it only what it needs. " + "; ".join(
    f"`{scope}`: {help}" for scope, help in SCOPE_HELP.items()
) + ". Reading the catalog never spends money: subscribing needs `catalog:subscribe`."


class ApiKeyOut(serializers.ModelSerializer):
    prefix = serializers.CharField(source="display_prefix")

    class Meta:
        model = ApiKey
        fields = ["id", "name", "mode", "prefix", "scopes", "created_at", "expires_at", "revoked_at", "last_used_at"]


class ApiKeyCreatedOut(ApiKeyOut):
    secret = serializers.CharField(help_text="Shown once. Store it now: it cannot be retrieved again.")

    class Meta(ApiKeyOut.Meta):
        fields = [*ApiKeyOut.Meta.fields, "secret"]


class ApiKeyIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKey.Scope.values), min_length=1, help_text=SCOPES_DOC
    )
    mode = serializers.ChoiceField(
        choices=ApiKey.Mode.values, default=ApiKey.Mode.LIVE,
        help_text="`live` keys need a confirmed email address; `test` keys do not.",
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="Optional. Keys living an hour or less (like the playground's) count against a "
        "separate, larger cap than long-lived keys.",
    )


class OrganizationOut(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "slug", "name", "created_at"]


class OrganizationIn(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    slug = serializers.SlugField(max_length=50, required=False, allow_blank=True)


class MembershipOut(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["id", "email", "role", "created_at"]


class RoleIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.values)


class AuditLogOut(serializers.ModelSerializer):
    actor = serializers.EmailField(source="actor.email", default=None)

    class Meta:
        model = AuditLog
        fields = ["id", "action", "actor", "target", "ip_address", "details", "created_at"]
