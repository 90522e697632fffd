"""The HTTP side: one requests.Session with the key, and the server's error bodies turned into
CliError with the exit code of their class.

Three error shapes come back: the platform's `{"error": {"code", "message", "details"}}`, OpenAI's
`{"error": {"message", "type", "code"}}` on /v1 and the Open Inference Protocol's
`{"error": "message"}` on /v2.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests

from modelbay_cli import __version__
from modelbay_cli.errors import CliError, Exit, exit_for_status

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0


def error_from(response: requests.Response) -> CliError:
    status = response.status_code
    code, message, details = "", "", {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = str(error.get("code") or error.get("type") or "")
            message = str(error.get("message") or "")
            details = error.get("details") if isinstance(error.get("details"), dict) else {}
        elif isinstance(error, str):
            message = error
        elif isinstance(body.get("detail"), str):
            message = body["detail"]
    if not message:
        message = f"The server answered {status} {response.reason}"
        message += "; retry shortly." if status >= 500 else "."
    if status == 401:
        message += " (check the key: `modelbay login` stores a new one; MODELBAY_API_KEY and --key override it)"
    return CliError(message, exit_code=exit_for_status(status), code=code, status=status, details=details)


class Api:
    def __init__(self, url: str, api_key: str | None) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"modelbay-cli/{__version__}"
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def request(self, method: str, path: str, *, timeout: float | None = READ_TIMEOUT, ok: tuple[int, ...] = (),
                **kwargs: Any) -> requests.Response:
        """The response if it is 2xx (or a status in `ok`); otherwise raises the server's error."""
        try:
            response = self.session.request(method, self.url + path, timeout=(CONNECT_TIMEOUT, timeout), **kwargs)
        except requests.ConnectionError as exc:
            raise CliError(f"Cannot reach {self.url} ({_reason(exc)}). Is the server running? "
                           "Pass --url or set MODELBAY_URL.", exit_code=Exit.SERVER, code="unreachable") from exc
        except requests.Timeout as exc:
            raise CliError(f"{self.url} did not answer {method} {path} within {timeout:.0f} s; retry shortly.",
                           exit_code=Exit.SERVER, code="timeout") from exc
        if response.status_code >= 400 and response.status_code not in ok:
            raise error_from(response)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, body: dict, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def paged(self, path: str, params: dict | None = None, limit: int = 1000) -> Iterator[dict]:
        """Every row of a list endpoint, paginated (`{"results", "next"}`) or not."""
        page = self.get(path, params={**(params or {}), "limit": 100})
        seen = 0
        while True:
            rows = page.get("results", []) if isinstance(page, dict) else page
            for row in rows:
                yield row
                seen += 1
                if seen >= limit:
                    return
            following = page.get("next") if isinstance(page, dict) else None
            if not following:
                return
            # DRF names the host it was asked on, which may not be ours (a proxy): keep the path.
            parts = urlsplit(following)
            page = self.get(f"{parts.path}?{parts.query}")


def split_model_name(target: str) -> tuple[str, str]:
    """`acme/sentiment` or `acme.sentiment` (the inference API's form) -> ("acme", "sentiment")."""
    vendor, sep, slug = target.partition("/" if "/" in target else ".")
    if not sep or not vendor or not slug or "/" in slug or "." in slug:
        raise CliError(f"'{target}' is not <vendor>/<model>, e.g. acme/sentiment.", exit_code=Exit.BAD_INPUT,
                       code="bad_model_name")
    return vendor, slug


def _reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    for hint in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if hint in text:
            return hint.lower()
    return "connection failed"
