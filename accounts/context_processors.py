"""The organization a page acts for and the ones its user can switch to."""

from django.http import HttpRequest

from accounts.pages import current_tenant
from accounts.selectors import organizations_for


def organizations(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated):
        return {"current_org": None, "current_membership": None, "user_orgs": []}
    tenant = getattr(request, "tenant", None) or current_tenant(request)
    return {
        "current_org": tenant.organization if tenant else None,
        "current_membership": tenant.membership if tenant else None,
        "user_orgs": list(organizations_for(user=user)),
    }
