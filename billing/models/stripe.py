"""What we created in Stripe (one row per object, keyed by our ids), the webhook event store,
the hourly usage windows sent as meter events, and reconciliation runs."""

from django.db import models
from django.utils import timezone

from accounts.models import Organization
from marketplace.models import Entitlement, Plan


class StripeCustomer(models.Model):
    """A buyer organization's Stripe Customer; delinquency follows its invoices' payments."""

    organization = models.OneToOneField(Organization, on_delete=models.PROTECT, related_name="stripe_customer")
    stripe_id = models.CharField(max_length=64, unique=True)
    delinquent_since = models.DateTimeField(null=True, blank=True)
    delinquent_invoice = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.stripe_id


class StripePrice(models.Model):
    """A plan's Stripe Product, Meter and metered Price in one billed dimension (plus, on the first
    dimension, a licensed Price for a monthly fee). A plan priced by one number has one row
    (`default`); a token plan has two (`input_tokens`, `output_tokens`).

    Each plan and dimension gets its own meter: Stripe aggregates a meter per customer, so two
    prices on one meter would each bill the customer's whole usage of both."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="stripe_prices")
    dimension = models.CharField(max_length=16, default="default")
    product_id = models.CharField(max_length=64)
    meter_id = models.CharField(max_length=64, unique=True)
    event_name = models.CharField(max_length=100, unique=True)
    price_id = models.CharField(max_length=64, unique=True)
    fee_price_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "dimension"], name="one_stripe_price_per_dimension")]

    def __str__(self) -> str:
        return self.price_id


class StripeSubscription(models.Model):
    entitlement = models.OneToOneField(Entitlement, on_delete=models.PROTECT, related_name="stripe_subscription")
    stripe_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=32)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.stripe_id


class StripeEvent(models.Model):
    """Every webhook event, stored once by its id; a duplicate delivery finds the row and stops."""

    class Status(models.TextChoices):
        RECEIVED = "received"
        PROCESSING = "processing"
        PROCESSED = "processed"
        FAILED = "failed"

    id = models.CharField(max_length=64, primary_key=True)
    type = models.CharField(max_length=80, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(help_text="when Stripe created the event")
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created", "received_at"]

    def __str__(self) -> str:
        return f"{self.id} ({self.type})"


class UsageWindow(models.Model):
    """One meter event: a buyer's usage of one plan's dimension in one hour (seq 0), or a
    reconciliation correction for that hour (seq 1, 2, ...). The identifier never changes, so a resend after a
    lost answer is recognised by Stripe as the same event."""

    class State(models.TextChoices):
        PENDING = "pending"  # not known to have reached Stripe
        SENT = "sent"  # Stripe accepted it (or said it already had it)
        CONFIRMED = "confirmed"  # reconciliation saw Stripe's total for the hour equal ours
        SUPERSEDED = "superseded"  # reconciliation replaced it by a correction; never sent again

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="usage_windows")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="usage_windows")
    dimension = models.CharField(max_length=16, default="default")
    hour = models.DateTimeField()
    seq = models.PositiveIntegerField(default=0)
    quantity = models.DecimalField(max_digits=20, decimal_places=6)
    timestamp = models.PositiveBigIntegerField(help_text="meter event time (unix), inside the hour")
    identifier = models.CharField(max_length=100, unique=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "plan", "dimension", "hour", "seq"],
                                               name="one_usage_window_per_dimension_hour_seq")]
        ordering = ["hour", "seq"]

    def __str__(self) -> str:
        return self.identifier


class ReconciliationRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        OK = "ok"  # everything matched (possibly after fixes)
        DIFFERENCES = "differences"  # something could not be fixed automatically
        FAILED = "failed"

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    range_start = models.DateTimeField()
    range_end = models.DateTimeField()
    checked = models.PositiveIntegerField(default=0)
    fixed = models.PositiveIntegerField(default=0)
    differences = models.JSONField(default=list)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"reconciliation {self.pk} ({self.status})"
