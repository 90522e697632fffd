"""An organization's active keys are capped; short-lived playground keys cannot lock it out."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import api_key_create
from core.errors import Conflict, RateLimited

pytestmark = pytest.mark.django_db


def _create(persona, **extra):
    return api_key_create(organization=persona.organization, created_by=persona.user, name="k",
                          scopes=["inference"], **extra)


def test_the_cap_refuses_one_key_too_many_with_409_saying_to_revoke_unused_keys(buyer, settings):
    settings.API_KEYS_MAX_ACTIVE_PER_ORG = 3  # the persona's own key is one
    _create(buyer)
    _create(buyer)
    response = buyer.client.post("/api/v1/keys", {"name": "one too many", "scopes": ["inference"]}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "too_many_keys"
    assert "Revoke keys you no longer use" in error["message"]
    assert error["details"] == {"limit": 3, "active": 3}
    assert not ApiKey.objects.filter(name="one too many").exists()


def test_revoked_and_expired_keys_do_not_count(buyer, settings):
    settings.API_KEYS_MAX_ACTIVE_PER_ORG = 2
    first, _ = _create(buyer)
    with pytest.raises(Conflict):
        _create(buyer)
    assert buyer.client.delete(f"/api/v1/keys/{first.pk}").status_code == 200
    expiring, _ = _create(buyer, expires_at=timezone.now() + timedelta(days=30))
    ApiKey.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    _create(buyer)  # room again: one revoked, one expired


def test_playground_keys_neither_count_against_the_cap_nor_lock_the_organization_out(buyer, settings):
    settings.API_KEYS_MAX_ACTIVE_PER_ORG = 2
    settings.API_KEYS_MAX_EPHEMERAL_PER_ORG = 3
    in_15_minutes = timezone.now() + timedelta(minutes=15)
    for _ in range(3):
        _create(buyer, expires_at=in_15_minutes)  # what the playground mints per page view
    with pytest.raises(RateLimited) as refused:
        _create(buyer, expires_at=in_15_minutes)
    assert refused.value.status_code == 429
    assert 0 < refused.value.details["retry_after_seconds"] <= 15 * 60 + 1
    # A real key is still possible: short-lived keys have their own cap.
    _create(buyer)
    with pytest.raises(Conflict):
        _create(buyer)
