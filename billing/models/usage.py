"""The usage ledger: one append-only row per billable inference call.

The database is the source of truth for metering; the Redis counters in billing.quota are a
cache of sums over these rows and are rebuilt from them when missing. A row never holds any
part of the buyer's payload: only sizes, times and money.
"""

from decimal import Decimal

from django.db import models
from django.utils import timezone

from accounts.models import ApiKey, Organization
from marketplace.models import Model, ModelVersion, Plan


class UsageEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Usage events are append-only; record a correcting event instead.")

    def delete(self):
        raise PermissionError("Usage events are append-only; record a correcting event instead.")


class UsageEvent(models.Model):
    request_id = models.CharField(max_length=64, unique=True, help_text="idempotency key of the call")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="usage_events")
    api_key = models.ForeignKey(ApiKey, null=True, on_delete=models.SET_NULL, related_name="usage_events")
    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="usage_events")
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="usage_events")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="usage_events")
    units = models.PositiveBigIntegerField(help_text="tensor elements sent; for a language model, input + output tokens")
    # Language models: the prompt and completion tokens of the call, billed apart by token plans.
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    compute_ms = models.DecimalField(max_digits=12, decimal_places=3)
    # Minor units (cents) with four decimals: per-element and per-millisecond prices are
    # fractions of a cent per call and must add up exactly on the invoice.
    amount_minor = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal(0))
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = UsageEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "created_at"], name="usage_org_time"),
            models.Index(fields=["api_key", "created_at"], name="usage_key_time"),
            models.Index(fields=["organization", "model", "created_at"], name="usage_org_model_time"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.amount_minor} {self.currency}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("Usage events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Usage events are append-only.")
