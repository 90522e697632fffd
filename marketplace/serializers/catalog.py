"""Catalog, buyer and vendor-terms payloads. Input serializers list exactly the fields a caller
may set: owner, status, prices of an existing plan and the like are not among them, so a
mass-assignment attempt is ignored (SECURITY.md row 18)."""

from rest_framework import serializers

from marketplace.models import Entitlement, License, LicenseAcceptance, Model, ModelVersion, Plan


class LicenseOut(serializers.ModelSerializer):
    class Meta:
        model = License
        fields = ["id", "revision", "kind", "identifier", "text", "text_sha256", "commercial_use",
                  "weight_download", "attribution_required", "derivatives_allowed", "territory_mode", "territories",
                  "max_monthly_calls", "expires_at", "created_at"]


class LicenseSummaryOut(LicenseOut):
    class Meta(LicenseOut.Meta):
        fields = [f for f in LicenseOut.Meta.fields if f != "text"]


class LicenseIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=License.Kind.values)
    identifier = serializers.CharField(max_length=80)
    text = serializers.CharField(required=False, allow_blank=True, default="", max_length=200_000)
    # Left out (or null): what the SPDX license grants (GET /api/v1/vendor/license-presets), or
    # false for a custom EULA or an id not in that table.
    commercial_use = serializers.BooleanField(required=False, allow_null=True, default=None)
    weight_download = serializers.BooleanField(required=False, allow_null=True, default=None)
    attribution_required = serializers.BooleanField(required=False, allow_null=True, default=None)
    # Left out on a custom EULA or an unlisted id: null, "not stated" (the license text decides).
    derivatives_allowed = serializers.BooleanField(required=False, allow_null=True, default=None,
                                                   help_text="buyers may share modified versions")
    territory_mode = serializers.ChoiceField(choices=License.TerritoryMode.values, default="anywhere")
    territories = serializers.ListField(child=serializers.CharField(max_length=2), default=list, max_length=300)
    max_monthly_calls = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class LicenseWarningOut(serializers.Serializer):
    code = serializers.CharField(help_text="contradicts_license")
    field = serializers.CharField(help_text="commercial_use, weight_download, attribution_required or derivatives_allowed")
    license_says = serializers.BooleanField(help_text="what the SPDX license itself grants")
    message = serializers.CharField()


class LicenseSavedOut(LicenseOut):
    warnings = LicenseWarningOut(many=True, read_only=True,
                                 help_text="where the permissions say something else than the SPDX license")

    class Meta(LicenseOut.Meta):
        fields = [*LicenseOut.Meta.fields, "warnings"]


class LicensePresetOut(serializers.Serializer):
    spdx_id = serializers.CharField()
    name = serializers.CharField()
    commercial_use = serializers.BooleanField()
    weight_download = serializers.BooleanField()
    derivatives = serializers.BooleanField(help_text="the license allows modified versions: the default of a revision's derivatives_allowed")
    attribution_required = serializers.BooleanField()
    conditions = serializers.CharField()


class ChecklistItemOut(serializers.Serializer):
    key = serializers.CharField(help_text="version, license or plan")
    label = serializers.CharField()
    done = serializers.BooleanField()
    missing = serializers.CharField(help_text="what to do while it is not done")


class PublishChecklistOut(serializers.Serializer):
    ready = serializers.BooleanField(help_text="every item is done: POST .../publish will list the model")
    checklist = ChecklistItemOut(many=True)


class PlanOut(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = ["id", "name", "kind", "currency", "unit", "unit_price_minor", "monthly_fee_minor",
                  "included_calls", "overage_price_minor", "input_price_per_million_minor",
                  "output_price_per_million_minor", "is_active"]


class PlanIn(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    kind = serializers.ChoiceField(choices=Plan.Kind.values)
    currency = serializers.CharField(max_length=3, default="usd")
    unit = serializers.ChoiceField(choices=Plan.Unit.values, default=Plan.Unit.CALL)
    unit_price_minor = serializers.IntegerField(min_value=0, default=0)
    monthly_fee_minor = serializers.IntegerField(min_value=0, default=0)
    included_calls = serializers.IntegerField(min_value=0, default=0)
    overage_price_minor = serializers.IntegerField(min_value=0, default=0)
    input_price_per_million_minor = serializers.DecimalField(
        max_digits=12, decimal_places=4, min_value=0, default=0,
        help_text="unit 1m_tokens: minor units per million prompt tokens (7.5 = $0.075 per million)")
    output_price_per_million_minor = serializers.DecimalField(
        max_digits=12, decimal_places=4, min_value=0, default=0,
        help_text="unit 1m_tokens: minor units per million completion tokens")


class PlanPatchIn(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)
    is_active = serializers.BooleanField(required=False)


class VersionOut(serializers.ModelSerializer):
    license_id = serializers.IntegerField(source="license_link.license_id", default=None)

    class Meta:
        model = ModelVersion
        fields = ["version", "signature", "opset", "parity", "benchmark", "hardware_class", "ready_at", "license_id"]


class CatalogModelOut(serializers.ModelSerializer):
    vendor = serializers.CharField(source="organization.slug")
    full_name = serializers.CharField()
    min_price_minor = serializers.IntegerField(source="min_price", default=None)

    class Meta:
        model = Model
        fields = ["full_name", "vendor", "slug", "name", "task", "tags", "min_price_minor", "created_at"]


class CatalogModelDetailOut(CatalogModelOut):
    class Meta(CatalogModelOut.Meta):
        fields = [*CatalogModelOut.Meta.fields, "description"]


class SubscribeIn(serializers.Serializer):
    plan = serializers.IntegerField()
    declared_use = serializers.ChoiceField(choices=LicenseAcceptance.Use.values)
    territory = serializers.CharField(max_length=2, required=False, allow_blank=True, default="")
    license_id = serializers.IntegerField(required=False, allow_null=True, default=None,
                                          help_text="the revision you read; refused if it is no longer current")


class AcceptanceOut(serializers.ModelSerializer):
    model = serializers.CharField(source="license.model.full_name")
    license_revision = serializers.IntegerField(source="license.revision")

    class Meta:
        model = LicenseAcceptance
        fields = ["id", "model", "license_id", "license_revision", "organization_id", "accepted_by_email",
                  "ip_address", "text_sha256", "declared_use", "territory", "accepted_at"]


class EntitlementOut(serializers.ModelSerializer):
    model = serializers.CharField(source="model.full_name")
    plan = PlanOut()

    class Meta:
        model = Entitlement
        fields = ["id", "model", "plan", "license_id", "acceptance_id", "status", "period_start", "period_end",
                  "monthly_quota", "created_at", "cancelled_at"]
