"""Serving incidents on the staff dashboard: worker deaths, suspect versions, quarantines.

Quarantine never happens silently: each worker death and each quarantine is a staff notice
(inference/serving/workers/quarantine.py), listed here newest first with the versions still on probation.
"""

import json

from billing.models import Notification
from core.redis import get_redis
from dashboard.registry import section
from inference.serving.workers import quarantine
from marketplace.models import ModelVersion

KINDS = (Notification.Kind.WORKER_DIED, Notification.Kind.VERSION_QUARANTINED)


@section("serving_incidents", title="Serving incidents", order=35)
def serving_incidents() -> dict:
    rows = [[f"{n.created_at:%Y-%m-%d %H:%M}", n.get_kind_display(), n.message]
            for n in Notification.objects.filter(organization=None, kind__in=KINDS)[:20]]
    suspects = {int(k): json.loads(v) for k, v in get_redis().hgetall(quarantine.SUSPECTS_KEY).items()}
    versions = ModelVersion.objects.select_related("model__organization").filter(pk__in=suspects)
    rows += [["now", "Running isolated", f"{v.model.full_name} {v.version}: on probation since "
              f"{suspects[v.pk]['incident']}; cleared after clean isolated runs, quarantined if it crashes them"]
             for v in versions]
    return {"columns": ["When", "What", "Details"], "rows": rows,
            "empty": "No worker has died and no version is quarantined."}
