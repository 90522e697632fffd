"""Writes for the limits a buyer sets on its own spending."""

from django.db import transaction

from accounts.models import ApiKey, Organization
from billing.models import UsageLimit
from billing.selectors.usage import limits_cache_clear
from core.errors import InvalidInput


@transaction.atomic
def usage_limit_set(
    *, organization: Organization, api_key: ApiKey | None = None, spend_cap_minor: int | None = None,
    monthly_calls: int | None = None, currency: str = "usd",
) -> UsageLimit:
    """Create or replace the org-wide limit (api_key None) or one key's limit; None = no limit."""
    if api_key is not None and api_key.organization_id != organization.pk:
        raise InvalidInput("That API key belongs to another organization.")
    for name, value in (("spend_cap_minor", spend_cap_minor), ("monthly_calls", monthly_calls)):
        if value is not None and value < 0:
            raise InvalidInput(f"{name} must be zero or more (or empty for no limit).")
    limit, _ = UsageLimit.objects.update_or_create(
        organization=organization, api_key=api_key,
        defaults={"spend_cap_minor": spend_cap_minor, "monthly_calls": monthly_calls, "currency": currency.lower()},
    )
    transaction.on_commit(limits_cache_clear)  # this process at once; others within seconds
    return limit
