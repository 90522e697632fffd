"""Terms of sale: license revisions, acceptance evidence, plans, entitlements and downloads.

A `License` row is one immutable revision; a change makes a new row with the next revision
number and the previous one stops being current. Acceptances point at the exact revision.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization
from marketplace.models.listing import Model, ModelVersion


class License(models.Model):
    class Kind(models.TextChoices):
        SPDX = "spdx"  # an open license named by its SPDX identifier
        CUSTOM = "custom"  # the vendor's own EULA, full text required

    class TerritoryMode(models.TextChoices):
        ANYWHERE = "anywhere"
        ALLOW = "allow"  # only the listed countries
        DENY = "deny"  # everywhere except the listed countries

    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="licenses")
    revision = models.PositiveIntegerField()
    is_current = models.BooleanField(default=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    identifier = models.CharField(max_length=80, help_text="SPDX id, e.g. Apache-2.0, or a EULA name")
    text = models.TextField(blank=True)
    text_sha256 = models.CharField(max_length=64)
    commercial_use = models.BooleanField(default=False)
    weight_download = models.BooleanField(default=False)
    attribution_required = models.BooleanField(default=False)
    # What buyers are told about sharing modified versions; the platform cannot enforce it.
    derivatives_allowed = models.BooleanField(
        null=True, blank=True, help_text="modified versions may be shared; empty = not stated, the license text decides")
    territory_mode = models.CharField(max_length=10, choices=TerritoryMode.choices, default=TerritoryMode.ANYWHERE)
    territories = models.JSONField(default=list, blank=True, help_text="ISO 3166-1 alpha-2 codes")
    max_monthly_calls = models.PositiveIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "revision"], name="license_revision_per_model"),
            models.UniqueConstraint(fields=["model"], condition=models.Q(is_current=True),
                                    name="one_current_license_per_model"),
        ]
        ordering = ["model_id", "-revision"]

    def __str__(self) -> str:
        return f"{self.identifier} r{self.revision}"

    def allows_territory(self, country: str) -> bool:
        listed = country.upper() in {c.upper() for c in self.territories}
        if self.territory_mode == self.TerritoryMode.ALLOW:
            return listed
        if self.territory_mode == self.TerritoryMode.DENY:
            return not listed
        return True

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class VersionLicense(models.Model):
    """The license revision a version carries (stamped when the version is first offered)."""

    version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="license_link")
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="version_links")

    def __str__(self) -> str:
        return f"version {self.version_id} under license {self.license_id}"


class AcceptanceQuerySet(models.QuerySet):
    """Append-only. The one permitted change is erasure clearing personal fields
    (accounts.privacy, through the base QuerySet.update)."""

    def update(self, **kwargs):
        raise PermissionError("License acceptances are append-only evidence.")

    def delete(self):
        raise PermissionError("License acceptances are append-only evidence.")


class LicenseAcceptance(models.Model):
    class Use(models.TextChoices):
        COMMERCIAL = "commercial"
        NON_COMMERCIAL = "non_commercial"
        RESEARCH = "research"

    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="acceptances")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="license_acceptances")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    accepted_by_email = models.CharField(max_length=254, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    text_sha256 = models.CharField(max_length=64)
    declared_use = models.CharField(max_length=20, choices=Use.choices)
    territory = models.CharField(max_length=2)
    accepted_at = models.DateTimeField(default=timezone.now)

    objects = AcceptanceQuerySet.as_manager()

    class Meta:
        ordering = ["-accepted_at", "-id"]

    def __str__(self) -> str:
        return f"org {self.organization_id} accepted license {self.license_id} ({self.declared_use})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("License acceptances are append-only evidence.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("License acceptances are append-only evidence.")


class Plan(models.Model):
    class Kind(models.TextChoices):
        FREE = "free"
        PAYG = "payg"
        SUBSCRIPTION = "subscription"

    class Unit(models.TextChoices):
        CALL = "call"
        THOUSAND_UNITS = "1k_units"
        COMPUTE_SECOND = "compute_second"
        TOKENS = "1m_tokens", "Million tokens (input and output priced apart)"

    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="plans")
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    currency = models.CharField(max_length=3, default="usd")
    unit = models.CharField(max_length=14, choices=Unit.choices, default=Unit.CALL)
    unit_price_minor = models.PositiveIntegerField(default=0)
    monthly_fee_minor = models.PositiveIntegerField(default=0)
    included_calls = models.PositiveIntegerField(default=0)
    overage_price_minor = models.PositiveIntegerField(default=0)
    # Token plans (unit 1m_tokens): minor units per million prompt / completion tokens, with
    # four decimals because LLM prices go below a cent per million ($0.075/M = 7.5000).
    input_price_per_million_minor = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0))
    output_price_per_million_minor = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0))
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model_id", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def monthly_quota(self) -> int | None:
        """Calls a month the plan itself allows; None means metered without a cap."""
        return self.included_calls if self.kind == self.Kind.FREE else None


class Entitlement(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"
        CANCELLED = "cancelled"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="entitlements")
    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="entitlements")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="entitlements")
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="entitlements")
    acceptance = models.ForeignKey(LicenseAcceptance, on_delete=models.PROTECT, related_name="entitlements")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    monthly_quota = models.PositiveIntegerField(null=True, blank=True, help_text="calls; empty = unlimited")
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "model"], condition=models.Q(status="active"),
                                    name="one_active_entitlement_per_model"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.organization_id} -> {self.model_id} ({self.status})"


class Download(models.Model):
    """One fingerprinted copy handed to a buyer; `verify_fingerprint` finds it again."""

    fingerprint_id = models.CharField(max_length=32, unique=True)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="downloads")
    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="downloads")
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="downloads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    file_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"download {self.fingerprint_id} by org {self.organization_id}"
