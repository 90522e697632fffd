"""Which side of the marketplace an organization is on, for the pages that depend on it (where
a login lands, whether the nav offers the vendor portal). Reached through settings.ORGANIZATION_ROLE
so accounts and core need not import marketplace."""

from django.http import HttpRequest

from accounts.models import Organization
from accounts.pages import current_tenant
from marketplace.models import Entitlement, Model

VENDOR, BUYER, NEW = "vendor", "buyer", "new"


def organization_role(*, organization: Organization) -> str:
    """"vendor" once it lists a model (draft or published), else "buyer" once it has subscribed
    to one (in any state), else "new": a fresh organization may still become either."""
    if Model.objects.filter(organization=organization).exists():
        return VENDOR
    if Entitlement.objects.filter(organization=organization).exists():
        return BUYER
    return NEW


def request_organization_role(request: HttpRequest) -> str | None:
    """The role of the organization a signed-in page acts for; None without one."""
    tenant = getattr(request, "tenant", None) or current_tenant(request)
    return organization_role(organization=tenant.organization) if tenant else None
