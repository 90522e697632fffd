"""Invoices a buyer sees: mirrored from Stripe (source=stripe) or computed from the ledger when
Stripe is not configured (source=local). Lines name the model they bill, for the per-model view."""

from django.db import models
from django.db.models import Q

from accounts.models import Organization
from marketplace.models import Model, Plan


class Invoice(models.Model):
    class Source(models.TextChoices):
        STRIPE = "stripe"
        LOCAL = "local"

    class Status(models.TextChoices):
        DRAFT = "draft"
        OPEN = "open"
        PAID = "paid"
        VOID = "void"
        UNCOLLECTIBLE = "uncollectible"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="invoices")
    source = models.CharField(max_length=8, choices=Source.choices)
    stripe_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    currency = models.CharField(max_length=3)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    subtotal_minor = models.BigIntegerField(default=0)
    total_minor = models.BigIntegerField(default=0)
    amount_due_minor = models.BigIntegerField(default=0)
    amount_paid_minor = models.BigIntegerField(default=0)
    hosted_url = models.URLField(max_length=500, blank=True)
    charge_id = models.CharField(max_length=64, blank=True, help_text="the charge that paid it")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period_start", "-id"]
        constraints = [models.UniqueConstraint(
            fields=["organization", "currency", "period_start", "period_end"], condition=Q(source="local"),
            name="one_local_invoice_per_period")]

    def __str__(self) -> str:
        return self.number or self.stripe_id or f"local-{self.pk}"


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        USAGE = "usage"
        FEE = "fee"  # a subscription plan's monthly fee
        OTHER = "other"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    model = models.ForeignKey(Model, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.USAGE)
    description = models.CharField(max_length=300, blank=True)
    quantity = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    # Twelve places, as Stripe's unit_amount_decimal: a per-token price is 10^-6 of a per-million one.
    unit_amount_decimal = models.DecimalField(max_digits=24, decimal_places=12, default=0)
    amount_minor = models.BigIntegerField(default=0)
    stripe_line_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.description or self.kind}: {self.amount_minor}"
