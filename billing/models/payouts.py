"""Vendor side: the Connect Express account, the earnings ledger, and the transfers paying it.

A `VendorEarning` is one vendor's share of one paid invoice (unique per invoice and vendor);
its `Transfer` is created at most once (one-to-one) and carries a deterministic idempotency key."""

from django.db import models

from accounts.models import Organization
from billing.models.invoices import Invoice


class VendorAccount(models.Model):
    organization = models.OneToOneField(Organization, on_delete=models.PROTECT, related_name="vendor_account")
    stripe_id = models.CharField(max_length=64, unique=True)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    transfers_active = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.stripe_id


class VendorEarning(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="earnings")
    vendor = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="earnings")
    currency = models.CharField(max_length=3)
    gross_minor = models.BigIntegerField(help_text="the invoice lines for the vendor's models")
    fee_minor = models.BigIntegerField(help_text="the platform fee kept")
    net_minor = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["invoice", "vendor"], name="one_earning_per_vendor_invoice")]

    def __str__(self) -> str:
        return f"{self.vendor_id}: {self.net_minor} {self.currency}"


class Transfer(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting"  # vendor has no payout-ready account yet
        PENDING = "pending"  # to be sent (or the answer was lost; the idempotency key makes a resend safe)
        SENT = "sent"
        FAILED = "failed"
        NOT_APPLICABLE = "n/a"  # local-ledger mode: nothing moves

    earning = models.OneToOneField(VendorEarning, on_delete=models.PROTECT, related_name="transfer")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    stripe_id = models.CharField(max_length=64, blank=True)
    destination = models.CharField(max_length=64, blank=True)
    transfer_group = models.CharField(max_length=64, blank=True)
    source_transaction = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=120, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.stripe_id or self.idempotency_key
