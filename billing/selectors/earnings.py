"""Reads for vendors (earnings, payouts) and staff (reconciliation runs)."""

from __future__ import annotations

from django.db.models import QuerySet, Sum

from accounts.models import Organization
from billing.models import ReconciliationRun, VendorAccount, VendorEarning


def earnings_for(*, vendor: Organization) -> QuerySet[VendorEarning]:
    return VendorEarning.objects.filter(vendor=vendor).select_related("invoice", "transfer")


def earnings_totals(*, vendor: Organization) -> list[dict]:
    return list(VendorEarning.objects.filter(vendor=vendor).values("currency")
                .annotate(gross_minor=Sum("gross_minor"), fee_minor=Sum("fee_minor"), net_minor=Sum("net_minor"))
                .order_by("currency"))


def payout_account_for(*, vendor: Organization) -> VendorAccount | None:
    return VendorAccount.objects.filter(organization=vendor).first()


def reconciliation_runs(*, limit: int = 20) -> list[ReconciliationRun]:
    return list(ReconciliationRun.objects.all()[:limit])
