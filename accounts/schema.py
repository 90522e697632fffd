"""Tells drf-spectacular how API-key authentication looks in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from accounts.forms import SCOPE_HELP


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mb_live_<43 base62 chars><6 char checksum>",
            "description": "An organization API key. Keys carry scopes: "
            + "; ".join(f"{scope} ({help})" for scope, help in SCOPE_HELP.items()) + ".",
        }
