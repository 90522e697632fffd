"""Billing pages: the buyer console's usage, spend cap and invoices, and the vendor's earnings.

Reads go through billing.selectors (the API's own); the one read without a selector yet —
usage of a vendor's models per day — is `_vendor_usage_by_day` below (see its docstring).
"""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import stripe
from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.pages import flash_error, org_required
from billing.selectors.earnings import earnings_for, earnings_totals, payout_account_for
from billing.selectors.invoices import (
    invoice_by_model,
    invoice_usage_amount,
    invoices_for,
    usage_by_day,
)
from billing.selectors.usage import ledger_amount, ledger_calls, limits_for, vendor_usage_by_day
from billing.services.limits import usage_limit_set
from billing.services.payouts import onboarding_link, vendor_account_refresh
from billing.stripe_client import stripe_enabled
from core.charts import ChartSeries, line_chart
from core.errors import ApplicationError
from marketplace.selectors.entitlements import entitlements_of
from marketplace.views.common import money as exact_money

RANGES = (7, 30, 90)  # days a usage or earnings page can show, as on the staff dashboard
DAYS = 30


def _span(request: HttpRequest) -> int:
    """?days=7|30|90; anything else is the default month."""
    try:
        days = int(request.GET.get("days", DAYS))
    except ValueError:
        return DAYS
    return days if days in RANGES else DAYS


def _month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _money(minor: Decimal | int | None, currency: str = "usd") -> str:
    return f"{Decimal(minor or 0) / 100:,.2f} {currency.upper()}"


def _within(rows: list[dict], since: date, until: date) -> list[dict]:
    """The rows of the charted days: the query's window starts mid-day `span` days ago."""
    return [row for row in rows if since <= date.fromisoformat(row["day"]) <= until]


def _charts(rows: list[dict], *, since: date, until: date, what: str) -> dict:
    """rows: [{"day": "YYYY-MM-DD", "model": name, "currency": c, "calls": n, "amount_minor": x}] ->
    the calls and money charts, and the range's totals for the cards above them."""
    calls: dict[str, dict[date, float]] = defaultdict(dict)
    money: dict[str, dict[date, float]] = defaultdict(dict)
    currencies = sorted({row["currency"] for row in rows}) or ["usd"]
    spent_minor: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        day = date.fromisoformat(row["day"])
        amount = Decimal(row["amount_minor"] or 0) / 100
        spent_minor[row["currency"]] += Decimal(row["amount_minor"] or 0)
        calls[row["model"]][day] = calls[row["model"]].get(day, 0) + row["calls"]
        # One money axis per currency would be two charts; mixed currencies name theirs per line.
        name = row["model"] if len(currencies) == 1 else f"{row['model']} ({row['currency'].upper()})"
        money[name][day] = money[name].get(day, 0) + float(amount)
    empty = [ChartSeries("no calls yet", {})]
    unit = currencies[0].upper() if len(currencies) == 1 else ""
    return {
        "calls_chart": line_chart(title="Calls per day by model", since=since, until=until, whole=True,
                                  series=[ChartSeries(n, p) for n, p in sorted(calls.items())] or empty),
        "money_chart": line_chart(title=f"{what} per day by model", since=since, until=until, unit=unit,
                                  series=[ChartSeries(n, p) for n, p in sorted(money.items())] or empty),
        "range_calls": sum(row["calls"] for row in rows),
        "range_amounts": [exact_money(spent_minor[c], c) for c in currencies],
    }


def _gauge(used: float, limit: float | None) -> dict:
    if not limit:
        return {"used": used, "limit": None, "percent": 0, "tone": "ok"}
    percent = min(round(100 * used / limit), 100)
    return {"used": used, "limit": limit, "percent": percent,
            "tone": "bad" if percent >= 100 else "warn" if percent >= 80 else "ok"}


class SpendCapForm(forms.Form):
    spend_cap = forms.DecimalField(required=False, min_value=0, decimal_places=2, label="Monthly spend cap",
                                   help_text="Calls are refused with 402 once this month's cost reaches it. Empty = no cap.")
    monthly_calls = forms.IntegerField(required=False, min_value=0, label="Monthly call limit",
                                       help_text="For the whole organization. Empty = no limit.")
    currency = forms.ChoiceField(choices=[(c, c.upper()) for c in ("usd", "eur", "gbp", "chf")], initial="usd")


@org_required
def usage(request: HttpRequest) -> HttpResponse:
    organization = request.tenant.organization
    now, span = timezone.now(), _span(request)
    until = timezone.localdate()
    since = until - timedelta(days=span - 1)
    rows = _within(usage_by_day(organization=organization, since=now - timedelta(days=span),
                                until=now + timedelta(days=1)), since, until)
    charts = _charts(rows, since=since, until=until, what="Cost")
    month = _month_start(now)
    limits = limits_for(organization=organization, api_key=None)
    org_limit = limits.org
    spent = ledger_amount(since=month, until=now + timedelta(seconds=1), organization=organization)
    month_calls = ledger_calls(since=month, until=now + timedelta(seconds=1), organization=organization)
    quotas = []
    for entitlement in entitlements_of(organization=organization).filter(status="active"):
        used = ledger_calls(since=month, until=now + timedelta(seconds=1), organization=organization,
                            model=entitlement.model)
        quotas.append({"entitlement": entitlement, **_gauge(used, entitlement.monthly_quota)})
    form = SpendCapForm(initial={
        "spend_cap": (Decimal(org_limit.spend_cap_minor) / 100) if org_limit and org_limit.spend_cap_minor is not None else None,
        "monthly_calls": org_limit.monthly_calls if org_limit else None,
        "currency": org_limit.currency if org_limit else "usd",
    })
    cap = org_limit.spend_cap_minor if org_limit else None
    totals = defaultdict(lambda: {"calls": 0, "amount_minor": Decimal(0), "input_tokens": 0, "output_tokens": 0})
    for row in rows:
        total = totals[(row["model"], row["currency"])]
        total["calls"] += row["calls"]
        total["amount_minor"] += Decimal(row["amount_minor"] or 0)
        total["input_tokens"] += row["input_tokens"] or 0
        total["output_tokens"] += row["output_tokens"] or 0
    return render(request, "console/usage.html", {
        "section": "usage", **charts, "form": form, "days": span, "ranges": RANGES,
        "spend": {**_gauge(float(spent), float(cap) if cap is not None else None),
                  "used_text": _money(spent, org_limit.currency if org_limit else "usd"),
                  "limit_text": _money(cap, org_limit.currency) if cap is not None else "no cap"},
        "calls_gauge": {**_gauge(month_calls, org_limit.monthly_calls if org_limit else None)},
        "quotas": quotas, "month": month,
        "totals": [{"model": m, "currency": c, "calls": t["calls"], "amount": _money(t["amount_minor"], c),
                    "input_tokens": t["input_tokens"], "output_tokens": t["output_tokens"]}
                   for (m, c), t in sorted(totals.items())],
        # Token columns only once a language model was called: tensor calls have no tokens.
        "has_tokens": any(t["input_tokens"] or t["output_tokens"] for t in totals.values()),
    })


@org_required
@require_POST
def spend_cap(request: HttpRequest) -> HttpResponse:
    form = SpendCapForm(request.POST)
    if form.is_valid():
        cap = form.cleaned_data["spend_cap"]
        try:
            usage_limit_set(organization=request.tenant.organization,
                            spend_cap_minor=int(cap * 100) if cap is not None else None,
                            monthly_calls=form.cleaned_data["monthly_calls"], currency=form.cleaned_data["currency"])
        except stripe.StripeError:
            messages.warning(request, "Stripe did not answer just now; the status below updates when it does.")
        else:
            messages.success(request, "Limits saved. They apply to calls from now on.")
    else:
        messages.error(request, "Enter the cap as an amount, e.g. 25.00, and the call limit as a whole number.")
    return redirect("console:usage")


@org_required
def invoices(request: HttpRequest) -> HttpResponse:
    found = list(invoices_for(organization=request.tenant.organization)[:50])
    for invoice in found:
        invoice.by_model = [{"model": row["model"] or "other charges",
                             "amount": _money(row["amount_minor"], invoice.currency)}
                            for row in invoice_by_model(invoice=invoice)]
        invoice.total_text = _money(invoice.total_minor, invoice.currency)
        invoice.due_text = _money(invoice.amount_due_minor, invoice.currency)
        invoice.note = _invoice_note(invoice)
    return render(request, "console/invoices.html", {"section": "invoices", "invoices": found})


def _invoice_note(invoice) -> str:
    """Why an invoice bills less than the usage page shows for its period, when it does."""
    lines = list(invoice.lines.all())
    if not lines:
        return ("No usage lines: metered usage is billed in arrears, on the invoice that closes the "
                "billing period it happened in.")
    usage = invoice_usage_amount(invoice=invoice)
    billed = sum(line.amount_minor for line in lines if line.kind == "usage")
    if usage.quantize(Decimal(1), rounding=ROUND_HALF_UP) <= billed:
        return ""
    return (f"Usage in this period came to {exact_money(usage, invoice.currency)}, billed as {_money(billed, invoice.currency)}: "
            "each line (one model and plan) is rounded to the cent once, half up, so a line worth "
            "less than half a cent is not charged and is not carried over.")


@org_required
def earnings(request: HttpRequest) -> HttpResponse:
    vendor = request.tenant.organization
    account = payout_account_for(vendor=vendor)
    if request.GET.get("onboarding") == "return" and account is not None and stripe_enabled():
        # Back from Stripe's onboarding: read the account now rather than wait for its webhook.
        try:
            account = vendor_account_refresh(stripe_account_id=account.stripe_id) or account
        except ApplicationError as error:
            flash_error(request, error)
    now, span = timezone.now(), _span(request)
    until = timezone.localdate()
    since = until - timedelta(days=span - 1)
    rows = _within(vendor_usage_by_day(vendor=vendor, since=now - timedelta(days=span), until=now + timedelta(days=1)),
                   since, until)
    charts = _charts(rows, since=since, until=until, what="Revenue billed")
    earned = list(earnings_for(vendor=vendor).order_by("-created_at")[:50])
    for row in earned:
        row.gross_text, row.fee_text, row.net_text = (_money(row.gross_minor, row.currency),
                                                      _money(row.fee_minor, row.currency),
                                                      _money(row.net_minor, row.currency))
    totals = [{"currency": t["currency"], "gross": _money(t["gross_minor"], t["currency"]),
               "net": _money(t["net_minor"], t["currency"])} for t in earnings_totals(vendor=vendor)]
    return render(request, "vendor/earnings.html", {
        "section": "earnings", **charts, "earnings": earned,
        "totals": totals, "account": account, "stripe_enabled": stripe_enabled(),
        "days": span, "ranges": RANGES,
    })


@org_required
@require_POST
def payouts_onboarding(request: HttpRequest) -> HttpResponse:
    back = request.build_absolute_uri(reverse("vendor:earnings"))
    try:
        url = onboarding_link(organization=request.tenant.organization, return_url=f"{back}?onboarding=return",
                              refresh_url=back)
    except ApplicationError as error:
        flash_error(request, error)
        return redirect("vendor:earnings")
    return redirect(url)


