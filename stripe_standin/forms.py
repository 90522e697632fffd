"""Decode the form bodies and query strings the Stripe SDK sends.

The SDK flattens nested params as `a[b][c]=v`, lists as `items[0][price]=...`
(always indexed) and booleans as `true`/`false`; `expand[]=x` style is accepted too.
Leaves stay strings; the helpers at the bottom convert them where a handler needs to.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from .errors import StripeError, invalid

_SEGMENT = re.compile(r"\[([^\]]*)\]")


def _split_key(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    parts = [head]
    if rest:
        parts.extend(_SEGMENT.findall("[" + rest))
    return parts


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {k: _listify(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


def parse_form(body: str) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = _split_key(key)
        node = root
        for index, part in enumerate(parts):
            if part == "":  # `expand[]` style: append
                part = str(len(node))
            last = index == len(parts) - 1
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return _listify(root)


def fingerprint(params: dict[str, Any]) -> str:
    import json

    return json.dumps(params, sort_keys=True)


def as_int(params: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(key, f"Invalid integer: {value}", code="parameter_invalid_integer") from None


def as_decimal(value: Any, param: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise invalid(param, f"Invalid decimal: {value}") from None


def as_bool(params: dict[str, Any], key: str, default: bool = False) -> bool:
    value = params.get(key)
    if value is None or value == "":
        return default
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise StripeError(f"Invalid boolean: {value}", code="parameter_invalid_boolean", param=key)


def as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def require(params: dict[str, Any], key: str) -> Any:
    from .errors import missing_param

    value = params.get(key)
    if value is None or value == "":
        raise missing_param(key)
    return value
