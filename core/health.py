"""Liveness and readiness. /readyz names each dependency that failed, so an operator knows
which one to look at. Under `manage.py runstack` it also names the stack's processes that are
down (the supervisor's state file, see core.supervisor)."""

import os
import uuid
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from core.redis import get_redis
from core.supervisor import STATE_ENV, down_in


class ProcessesDown(Exception):
    """The processes check names each process that is down, so `failed` lists those names."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    get_redis().ping()


def _check_storage() -> None:
    name = default_storage.save(f"health/{uuid.uuid4().hex}", ContentFile(b"ok"))
    default_storage.delete(name)


def _check_processes() -> None:
    # One small file read: readyz is polled often and must stay cheap.
    down = down_in(Path(os.environ[STATE_ENV]))
    if down:
        raise ProcessesDown(down)


CHECKS = {"database": _check_database, "redis": _check_redis, "storage": _check_storage}


@require_GET
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    failed: list[str] = []
    checks = dict(CHECKS)
    if os.environ.get(STATE_ENV):  # set by the supervisor of the processes this one runs beside
        checks["processes"] = _check_processes
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except ProcessesDown as exc:
            results[name] = f"down: {exc}"
            failed += [down for down in exc.names if down not in failed]
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            results[name] = f"unavailable: {type(exc).__name__}"
            if name not in failed:
                failed.append(name)
    if failed:
        return JsonResponse(
            {"status": "unavailable", "failed": failed, "checks": results}, status=503
        )
    return JsonResponse({"status": "ok", "checks": results})
