"""Vendor payouts through Stripe Connect (Express).

On a paid invoice each vendor's share (the invoice lines for its models, minus the platform
fee) becomes one `VendorEarning` and one `Transfer` (unique per invoice and vendor). The
transfer is sent with `transfer_group` = the invoice, `source_transaction` = the charge that
paid it, and an idempotency key from both ids; before sending we also look for a transfer of
that group to that account, so a resend after Stripe's 24 h key horizon still creates none twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import stripe
from django.conf import settings
from django.db import transaction
from django.db.models import F

from accounts.models import Organization
from billing.models import Invoice, Transfer, VendorAccount, VendorEarning
from billing.services.stripe_sync import idempotency_key, store_once
from billing.stripe_client import require_client, stripe_enabled
from core.errors import InvalidInput, ServiceUnavailable

log = logging.getLogger(__name__)


def platform_fee(gross_minor: int) -> int:
    return int((Decimal(gross_minor) * settings.PLATFORM_FEE_BPS / 10_000).quantize(Decimal(1), ROUND_HALF_UP))


@transaction.atomic
def earnings_record(*, invoice: Invoice) -> list[VendorEarning]:
    """One earning (and one transfer row) per vendor on the invoice; a second call changes nothing."""
    gross: dict[int, int] = defaultdict(int)
    for line in invoice.lines.filter(model__isnull=False).select_related("model"):
        gross[line.model.organization_id] += line.amount_minor
    earnings = []
    for vendor_id, amount in sorted(gross.items()):
        if amount <= 0:  # nothing billed for this vendor's models (e.g. a zero opening invoice)
            continue
        fee = platform_fee(amount)
        earning, _ = VendorEarning.objects.get_or_create(
            invoice=invoice, vendor_id=vendor_id,
            defaults={"currency": invoice.currency, "gross_minor": amount, "fee_minor": fee, "net_minor": amount - fee})
        status = Transfer.Status.PENDING
        if invoice.source == Invoice.Source.LOCAL or earning.net_minor <= 0:
            status = Transfer.Status.NOT_APPLICABLE
        Transfer.objects.get_or_create(earning=earning, defaults={
            "status": status, "transfer_group": invoice.stripe_id or f"local-{invoice.pk}",
            "source_transaction": invoice.charge_id,
            "idempotency_key": f"modelbay-transfer-{invoice.stripe_id or f'local-{invoice.pk}'}-{vendor_id}"})
        earnings.append(earning)
    return earnings


def transfer_send(*, transfer: Transfer) -> Transfer:
    """Sends one pending transfer; waits (status waiting) while the vendor cannot receive one."""
    earning = transfer.earning
    account = VendorAccount.objects.filter(organization_id=earning.vendor_id).first()
    if account is None or not account.transfers_active:
        Transfer.objects.filter(pk=transfer.pk, status=Transfer.Status.PENDING).update(status=Transfer.Status.WAITING)
        return Transfer.objects.get(pk=transfer.pk)
    client = require_client()
    Transfer.objects.filter(pk=transfer.pk).update(attempts=F("attempts") + 1, destination=account.stripe_id)
    try:
        # At most one transfer per invoice group and vendor account: adopt one sent before.
        existing = client.v1.transfers.list(
            {"transfer_group": transfer.transfer_group, "destination": account.stripe_id, "limit": 100})
        created = next(iter(existing.auto_paging_iter()), None)
        if created is None:
            params = {"amount": earning.net_minor, "currency": earning.currency, "destination": account.stripe_id,
                      "transfer_group": transfer.transfer_group,
                      "metadata": {"earning_id": str(earning.pk), "invoice": transfer.transfer_group}}
            if transfer.source_transaction:
                params["source_transaction"] = transfer.source_transaction
            created = client.v1.transfers.create(params, {"idempotency_key": transfer.idempotency_key})
    except stripe.StripeError as exc:
        Transfer.objects.filter(pk=transfer.pk).update(status=Transfer.Status.FAILED,
                                                       last_error=f"{type(exc).__name__}: {exc}"[:300])
        raise
    Transfer.objects.filter(pk=transfer.pk).update(status=Transfer.Status.SENT, stripe_id=created.id, last_error="")
    return Transfer.objects.get(pk=transfer.pk)


def payouts_for_invoice(*, invoice: Invoice) -> list[Transfer]:
    """invoice.paid: record each vendor's earning and send its transfer (at most once)."""
    if invoice.status != Invoice.Status.PAID:
        return []
    earnings = earnings_record(invoice=invoice)
    sent = []
    for earning in earnings:
        transfer = Transfer.objects.get(earning=earning)
        if transfer.status in (Transfer.Status.PENDING, Transfer.Status.FAILED) and stripe_enabled():
            if not transfer.source_transaction and invoice.charge_id:
                Transfer.objects.filter(pk=transfer.pk).update(source_transaction=invoice.charge_id)
                transfer.source_transaction = invoice.charge_id
            transfer = transfer_send(transfer=transfer)
        sent.append(transfer)
    return sent


def transfers_release(*, vendor: Organization) -> int:
    """account.updated made the vendor payout-ready: send what waited for it."""
    waiting = Transfer.objects.filter(earning__vendor=vendor, status=Transfer.Status.WAITING)
    waiting.update(status=Transfer.Status.PENDING)
    count = 0
    for transfer in Transfer.objects.filter(earning__vendor=vendor, status=Transfer.Status.PENDING):
        transfer_send(transfer=transfer)
        count += 1
    return count


# -- Connect onboarding ----------------------------------------------------------------------

def vendor_account_ensure(*, organization: Organization) -> VendorAccount:
    found = VendorAccount.objects.filter(organization=organization).first()
    if found is not None:
        return found
    account = require_client().v1.accounts.create(
        {"type": "express", "capabilities": {"transfers": {"requested": True}},
         "metadata": {"organization_id": str(organization.pk)}},
        {"idempotency_key": idempotency_key("account", organization)})
    return store_once(VendorAccount, {"organization": organization}, stripe_id=account.id)


def onboarding_link(*, organization: Organization, return_url: str, refresh_url: str) -> str:
    if not stripe_enabled():
        raise ServiceUnavailable("Payouts need Stripe, which is not configured here; earnings still accrue "
                                 "and are listed under /api/v1/vendor/earnings.", code="stripe_not_configured")
    if not return_url.startswith(("http://", "https://")):
        raise InvalidInput("return_url must be an http(s) URL of your site.")
    account = vendor_account_ensure(organization=organization)
    link = require_client().v1.account_links.create(
        {"account": account.stripe_id, "type": "account_onboarding", "return_url": return_url,
         "refresh_url": refresh_url})
    return link.url


def vendor_account_refresh(*, stripe_account_id: str) -> VendorAccount | None:
    """account.updated: mirror the account's current state; release waiting transfers."""
    account = VendorAccount.objects.filter(stripe_id=stripe_account_id).first()
    if account is None:
        return None
    data = require_client().v1.accounts.retrieve(stripe_account_id)
    capabilities = data.to_dict().get("capabilities") or {}
    was_active = account.transfers_active
    VendorAccount.objects.filter(pk=account.pk).update(
        charges_enabled=bool(data.charges_enabled), payouts_enabled=bool(data.payouts_enabled),
        details_submitted=bool(data.details_submitted), transfers_active=capabilities.get("transfers") == "active")
    account.refresh_from_db()
    if account.transfers_active and not was_active:
        transfers_release(vendor=account.organization)
    return account
