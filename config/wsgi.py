"""The WSGI entry point: the site, and a leaner handler for the buyer's synchronous infer calls.

`POST /v2/models/{name}[/versions/{v}]/infer` is authenticated by API key, exempt from CSRF and
never touches a session, a signed-in user, flash messages, login lockouts or static files, so it
skips those middlewares; a profile of the web process (bench/peers, issue #14) put them at about
a tenth of its CPU per call. It keeps the ones whose effect its responses carry: security
headers, the JSON error bodies, Content-Length and X-Frame-Options. Everything else goes through
the full stack, as before.
"""

import os

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
site = get_wsgi_application()

INFER_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "core.middleware.ApiErrorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]


class InferHandler(WSGIHandler):
    """Django's own handler (URL routing, exception handling, request signals) with INFER_MIDDLEWARE."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django reads the chain from settings.MIDDLEWARE; this runs once, at import, before any
        # request, so swapping it for the duration of the load is seen by nothing else.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = [m for m in full if m in INFER_MIDDLEWARE]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


infer_handler = InferHandler()


def is_infer_call(environ: dict) -> bool:
    path = environ.get("PATH_INFO", "")
    return environ.get("REQUEST_METHOD") == "POST" and path.startswith("/v2/models/") and path.endswith("/infer")


def application(environ, start_response):
    return (infer_handler if is_infer_call(environ) else site)(environ, start_response)
