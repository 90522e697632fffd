"""Templates for response objects, built from Stripe's own example objects.

`fixtures.json` holds Stripe's published example for each resource the stand-in serves;
`template(kind)` returns a deep copy so handlers only overwrite the fields that change.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

_PATH = Path(__file__).with_name("fixtures.json")


@lru_cache(maxsize=1)
def _resources() -> dict[str, dict[str, Any]]:
    return json.loads(_PATH.read_text())["resources"]


def template(kind: str, **overrides: Any) -> dict[str, Any]:
    obj = copy.deepcopy(_resources()[kind])
    obj.update(overrides)
    if "livemode" in obj:
        obj["livemode"] = False
    return obj
