"""Events: retrieve and list (newest first, filter by `type` or `types[]`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..forms import as_list
from ..store import paginate
from .common import Req, Route

if TYPE_CHECKING:
    from ..standin import StripeStandin


def list_events(app: StripeStandin, req: Req) -> dict[str, Any]:
    wanted = set(as_list(req.params.get("types")))
    if req.params.get("type"):
        wanted.add(req.params["type"])

    def keep(event: dict[str, Any]) -> bool:
        if not wanted:
            return True
        return any(event["type"] == w or (w.endswith("*") and event["type"].startswith(w[:-1])) for w in wanted)

    return paginate(app.store.all("event", keep), req.params, "/v1/events")


ROUTES: list[Route] = [
    ("GET", r"/v1/events", list_events),
    ("GET", r"/v1/events/(?P<id>[^/]+)", lambda app, req: app.store.get("event", req.args["id"])),
]
