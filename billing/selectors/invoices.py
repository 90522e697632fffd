"""Reads for buyers: their invoices with a per-model breakdown, and usage per day and model."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDay

from accounts.models import Organization
from billing.models import Invoice, UsageEvent


def invoices_for(*, organization: Organization) -> QuerySet[Invoice]:
    return (Invoice.objects.filter(organization=organization)
            .prefetch_related("lines__model__organization", "lines__plan"))


def invoice_by_model(*, invoice: Invoice) -> list[dict]:
    """Amount per model on one invoice (lines without a model, e.g. tax, under None)."""
    totals: dict[str | None, int] = defaultdict(int)
    for line in invoice.lines.all():
        totals[line.model.full_name if line.model else None] += line.amount_minor
    return [{"model": name, "amount_minor": amount} for name, amount in sorted(totals.items(), key=lambda x: x[0] or "")]


def invoice_usage_amount(*, invoice: Invoice) -> Decimal:
    """What the usage ledger recorded in the invoice's period and currency, exact to 1/100 of a
    minor unit (the invoice bills it per line, rounded to whole minor units)."""
    total = UsageEvent.objects.filter(
        organization_id=invoice.organization_id, currency__iexact=invoice.currency,
        created_at__gte=invoice.period_start, created_at__lt=invoice.period_end,
    ).aggregate(amount=Sum("amount_minor"))["amount"]
    return total or Decimal(0)


def usage_by_day(*, organization: Organization, since: datetime, until: datetime) -> list[dict]:
    rows = (UsageEvent.objects.filter(organization=organization, created_at__gte=since, created_at__lt=until)
            .annotate(day=TruncDay("created_at")).values("day", "model_id", "currency")
            .annotate(calls=Count("id"), units=Sum("units"), compute_ms=Sum("compute_ms"),
                      input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"),
                      amount_minor=Sum("amount_minor")).order_by("day", "model_id"))
    from marketplace.models import Model

    names = {m.pk: m.full_name for m in Model.objects.filter(pk__in={r["model_id"] for r in rows})
             .select_related("organization")}
    return [{"day": r["day"].date().isoformat(), "model": names[r["model_id"]], "currency": r["currency"],
             "calls": r["calls"], "units": r["units"], "input_tokens": r["input_tokens"],
             "output_tokens": r["output_tokens"], "compute_ms": str(r["compute_ms"]),
             "amount_minor": str(r["amount_minor"])} for r in rows]  # exact decimals as strings
