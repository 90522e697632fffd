"""JSON request bodies with a nesting cap, for every JSON API endpoint.

Python's JSON decoder recurses once per nesting level, so `[[[[...]]]]` 100,000 deep ends in a
RecursionError, which DRF's own parser does not catch (a 500). A body nested just under the
interpreter's limit parses, then breaks whatever recurses over it next (re-encoding, rendering).
So the depth is measured on the text before any decoding, in passes that run at C speed and
never recurse, and anything deeper than API_JSON_MAX_DEPTH is a 400 naming the limit.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json as drf_json

from core.errors import InvalidInput

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # brackets inside strings do not nest
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_OPENING = np.frombuffer(b"[{", dtype=np.uint8)
_CHUNK = 1 << 20  # brackets scanned per step, so a body of nothing but brackets costs little memory


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether arrays and objects in `text` nest more than `limit` levels deep."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text)).encode("ascii")
    if len(brackets) <= limit:  # cannot nest deeper than it has brackets
        return False
    codes = np.frombuffer(brackets, dtype=np.uint8)
    level = 0
    for start in range(0, len(codes), _CHUNK):
        steps = np.where(np.isin(codes[start:start + _CHUNK], _OPENING), 1, -1)
        running = np.cumsum(steps) + level
        if int(running.max()) > limit:
            return True
        level = int(running[-1])
    return False


def json_loads(raw: str | bytes, *, max_depth: int | None = None, strict: bool = False) -> Any:
    """Parse a JSON request body; a client mistake raises InvalidInput (400) saying what is wrong.

    `strict` refuses NaN and Infinity (DRF's STRICT_JSON); inference inputs allow them, as the
    Open Inference Protocol endpoints do.
    """
    limit = settings.API_JSON_MAX_DEPTH if max_depth is None else max_depth
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"The request body is not UTF-8 (byte {exc.start}); send JSON in UTF-8.",
                               code="malformed_request") from None
    if json_depth_exceeds(raw, limit):
        raise InvalidInput(f"The request JSON is nested more than {limit} levels deep; flatten it.",
                           code="malformed_request", details={"max_depth": limit})
    try:
        return json.loads(raw, parse_constant=drf_json.strict_constant if strict else None)
    except RecursionError:  # only if the stack was already deep; the scan above bounds nesting
        raise InvalidInput("The request JSON is nested too deeply; flatten it.", code="malformed_request") from None
    except ValueError as exc:
        raise InvalidInput(f"The request body is not valid JSON: {exc}.", code="malformed_request") from None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the nesting cap (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES)."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding}: {exc.reason}") from None
        try:
            return json_loads(text, strict=self.strict)
        except InvalidInput as exc:
            raise ParseError(exc.message) from None
