"""Pieces every resource module uses: the request object, metadata updates, periods."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..standin import StripeStandin


@dataclass
class Req:
    method: str
    path: str
    params: dict[str, Any]
    args: dict[str, str] = field(default_factory=dict)


Handler = Callable[["StripeStandin", Req], dict[str, Any]]
Route = tuple[str, str, Handler]


def apply_metadata(obj: dict[str, Any], params: dict[str, Any]) -> None:
    """Stripe semantics: keys merge, an empty value deletes a key, `metadata=` clears all."""
    metadata = params.get("metadata")
    if metadata is None:
        return
    if metadata == "":
        obj["metadata"] = {}
        return
    current = obj.setdefault("metadata", {}) or {}
    for key, value in metadata.items():
        if value == "":
            current.pop(key, None)
        else:
            current[key] = str(value)
    obj["metadata"] = current


def apply_fields(obj: dict[str, Any], params: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Copy plain fields present in params; return the previous values of the ones that changed."""
    previous: dict[str, Any] = {}
    for name in names:
        if name in params:
            value = None if params[name] == "" else params[name]
            if obj.get(name) != value:
                previous[name] = obj.get(name)
            obj[name] = value
    return previous


def add_interval(timestamp: int, interval: str, count: int = 1) -> int:
    """Calendar-aware period end, as Stripe bills: Jan 31 + 1 month -> Feb 28/29."""
    start = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    if interval == "day":
        end = start + dt.timedelta(days=count)
    elif interval == "week":
        end = start + dt.timedelta(weeks=count)
    else:
        months = count * (12 if interval == "year" else 1)
        month_index = start.month - 1 + months
        year, month = start.year + month_index // 12, month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        end = start.replace(year=year, month=month, day=day)
    return int(end.timestamp())
