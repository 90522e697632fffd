"""Which organization a request acts for. Every query that returns tenant data starts here.

- With an API key, the key's organization (a key belongs to exactly one).
- With a session, the organization named by the `X-Organization` header or chosen in the
  portal (session["org"]), else the user's first membership; always checked against membership.
"""

import ipaddress
from dataclasses import dataclass

from django.conf import settings
from rest_framework.request import Request

from accounts.models import ApiKey, Membership, Organization
from core.errors import NotFound, PermissionDenied


@dataclass(frozen=True)
class Tenant:
    organization: Organization
    membership: Membership | None
    api_key: ApiKey | None

    def require_scope(self, scope: str) -> None:
        if self.api_key is not None and not self.api_key.has_scope(scope):
            raise PermissionDenied(
                f"This API key lacks the '{scope}' scope; create a key with it.", code="missing_scope",
                details={"required_scope": scope, "key_scopes": self.api_key.scopes},
            )

    def require_manager(self) -> None:
        """Owners and admins; keys need keys:manage."""
        if self.api_key is not None:
            self.require_scope(ApiKey.Scope.KEYS_MANAGE)
        elif self.membership is None or not self.membership.can_manage:
            raise PermissionDenied("Only owners and admins of the organization can do this.")


def tenant_for(request: Request) -> Tenant:
    # Page views pass a plain Django HttpRequest, which has no `auth`: a session, never a key.
    if isinstance(getattr(request, "auth", None), ApiKey):
        return Tenant(organization=request.auth.organization, membership=None, api_key=request.auth)
    user = request.user
    memberships = Membership.objects.filter(user=user).select_related("organization", "user")
    wanted = request.headers.get("X-Organization") or getattr(request, "session", {}).get("org")
    if wanted:
        membership = memberships.filter(organization__slug=wanted).first()
        if membership is None:
            raise NotFound(f"You are not a member of an organization '{wanted}'.")
    else:
        membership = memberships.order_by("created_at").first()
        if membership is None:
            raise NotFound("You are not a member of any organization yet; create one first.")
    return Tenant(organization=membership.organization, membership=membership, api_key=None)


def client_ip(request) -> str | None:
    """The address of whoever sent the request, for the audit log and the login and key throttles.

    X-Forwarded-For is a list anyone can start: a client sends `X-Forwarded-For: 1.2.3.4` and each
    proxy appends the address it saw. Only the entries appended by our own proxies can be believed,
    so with TRUSTED_PROXY_COUNT = N the client is the Nth address from the right; with 0 (no proxy)
    the header is ignored and REMOTE_ADDR is the client."""
    remote = request.META.get("REMOTE_ADDR") or None
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if not hops:
        return remote
    # Fewer hops than proxies: the request skipped a proxy; the farthest hop is the best we know.
    candidate = hops[-count] if len(hops) >= count else hops[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
