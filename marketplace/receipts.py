"""Signed acceptance receipts: a JSON document both parties can keep, verifiable by the platform.

The signature is an HMAC-SHA256 over the canonical JSON of `evidence` with RECEIPT_SIGNING_KEY.
The receipt names the user by id, not by email, so erasing personal data later does not make
an issued receipt fail verification.
"""

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings

from marketplace.models import LicenseAcceptance

ALGORITHM = "HMAC-SHA256"


def _key() -> bytes:
    # Derived, so a receipt key is never the raw SECRET_KEY when no dedicated key is configured.
    secret = settings.RECEIPT_SIGNING_KEY or f"receipts:{settings.SECRET_KEY}"
    return hashlib.sha256(secret.encode()).digest()


def _canonical(evidence: dict[str, Any]) -> bytes:
    return json.dumps(evidence, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _sign(evidence: dict[str, Any]) -> str:
    return hmac.new(_key(), _canonical(evidence), hashlib.sha256).hexdigest()


def receipt_for(acceptance: LicenseAcceptance) -> dict[str, Any]:
    license = acceptance.license
    evidence = {
        "acceptance_id": acceptance.pk,
        "accepted_at": acceptance.accepted_at.isoformat(),
        "buyer_organization_id": acceptance.organization_id,
        "user_id": acceptance.user_id,
        "model": license.model.full_name,
        "license_id": license.pk,
        "license_identifier": license.identifier,
        "license_revision": license.revision,
        "text_sha256": acceptance.text_sha256,
        "declared_use": acceptance.declared_use,
        "territory": acceptance.territory,
    }
    return {"evidence": evidence, "algorithm": ALGORITHM, "signature": _sign(evidence)}


def receipt_verify(receipt: Any) -> bool:
    """True only for an untampered receipt that matches stored evidence."""
    if not isinstance(receipt, dict) or receipt.get("algorithm") != ALGORITHM:
        return False
    evidence, signature = receipt.get("evidence"), receipt.get("signature")
    if not isinstance(evidence, dict) or not isinstance(signature, str):
        return False
    if not hmac.compare_digest(_sign(evidence), signature):
        return False
    stored = LicenseAcceptance.objects.filter(
        pk=evidence.get("acceptance_id"), text_sha256=evidence.get("text_sha256"),
        organization_id=evidence.get("buyer_organization_id"), license_id=evidence.get("license_id"),
    ).exists()
    return stored
