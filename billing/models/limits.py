"""Spend caps and call quotas a buyer sets on itself (per organization or per API key), and the
alerts recorded when usage crosses 80% and 100% of one of them."""

from django.db import models
from django.utils import timezone

from accounts.models import ApiKey, Organization


class UsageLimit(models.Model):
    """Monthly (calendar month, UTC) limits. `api_key` empty: the limit covers the whole org."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="usage_limits")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="usage_limits")
    spend_cap_minor = models.PositiveBigIntegerField(null=True, blank=True, help_text="empty: no cap")
    currency = models.CharField(max_length=3, default="usd")
    monthly_calls = models.PositiveBigIntegerField(null=True, blank=True, help_text="empty: no quota")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], condition=models.Q(api_key__isnull=True),
                                    name="one_org_usage_limit"),
            models.UniqueConstraint(fields=["organization", "api_key"], condition=models.Q(api_key__isnull=False),
                                    name="one_key_usage_limit"),
        ]

    def __str__(self) -> str:
        scope = f"key {self.api_key_id}" if self.api_key_id else "org"
        return f"{self.organization_id} {scope}: cap {self.spend_cap_minor} calls {self.monthly_calls}"


class Notification(models.Model):
    """A recorded alert; unique per subject, period and threshold so it is raised once."""

    class Kind(models.TextChoices):
        SPEND_CAP = "spend_cap"
        QUOTA = "quota"
        VERSION_QUARANTINED = "version_quarantined"
        WORKER_DIED = "worker_died"  # staff: one per dead inference worker, naming what was in flight

    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="notifications", help_text="empty: for staff")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    subject = models.CharField(max_length=120, help_text="what crossed, e.g. org:5 or key:9 or version:3")
    period = models.CharField(max_length=32, blank=True)
    threshold = models.PositiveSmallIntegerField(default=100, help_text="percent")
    message = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "subject", "period", "threshold"], name="notification_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} {self.threshold}%"
