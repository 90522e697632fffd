"""The role of the organization a request acts for ("vendor", "buyer", "new" or None), asked of
the app that knows (settings.ORGANIZATION_ROLE) once per request: core does not import it."""

from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string


def organization_role(request: HttpRequest) -> str | None:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return None
    if not hasattr(request, "_organization_role"):
        request._organization_role = import_string(settings.ORGANIZATION_ROLE)(request)
    return request._organization_role
