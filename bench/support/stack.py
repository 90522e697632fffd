"""The serving bench's launcher: a migrated database with a vendor, a buyer with a real key and
a pay-as-you-go entitlement per model, an embedded Redis, gunicorn web processes and inference
workers, each started and stopped as its own process group. bench/serving.py, bench/peers and
bench/generation.py launch the stack through this module, so they run the same processes with
the same settings.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
RESULTS = ROOT / "bench" / "results"
VAR = Path(tempfile.mkdtemp(prefix="modelbay-bench-"))
ENV = {**os.environ, "MODELBAY_VAR_DIR": str(VAR), "DJANGO_SETTINGS_MODULE": "config.settings.local",
       "DEBUG": "false", "INFERENCE_RATE_LIMIT_PER_SECOND": "100000", "LOG_LEVEL": "WARNING",
       "API_KEY_CACHE_SECONDS": "60"}
os.environ.update(ENV)
sys.path.insert(0, str(ROOT))


def setup_stack(models: dict[str, bytes], hardware_class: str = "cpu") -> dict:
    """A migrated database with one published model per entry, served on `hardware_class`'s lane."""
    import django

    from core import embedded_redis

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    redis_process = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, data_dir=VAR / "redis")
    call_command("migrate", verbosity=0)
    import io

    from accounts.models import Membership, Organization, User
    from accounts.services import api_key_create
    from inference.runtime.signature import signature_from_onnx
    from marketplace.artifacts import artifact_save
    from marketplace.models import Model, ModelVersion, Plan
    from marketplace.services.entitlements import entitlement_subscribe
    from marketplace.services.licensing import license_set
    from marketplace.services.plans import model_publish, plan_create

    vendor = Organization.objects.create(slug="bench-vendor", name="Bench Vendor")
    buyer = Organization.objects.create(slug="bench-buyer", name="Bench Buyer")
    user = User.objects.create_user(email="bench@example.com", password="bench-password-1")
    Membership.objects.create(user=user, organization=buyer, role="owner")
    _, secret = api_key_create(organization=buyer, created_by=user, name="bench", scopes=["inference"])
    for slug, onnx_bytes in models.items():
        model = Model.objects.create(organization=vendor, slug=slug, name=slug)
        artifact = artifact_save(organization=vendor, source=io.BytesIO(onnx_bytes), kind="onnx")
        ModelVersion.objects.create(
            model=model, version="1.0.0", status="ready", onnx_artifact=artifact.name,
            onnx_sha256=artifact.sha256, onnx_size=artifact.size, signature=signature_from_onnx(onnx_bytes),
            ready_at=timezone.now(), hardware_class=hardware_class)
        license_set(model=model, actor=None, kind="spdx", identifier="Apache-2.0", commercial_use=True)
        plan = plan_create(model=model, actor=None, name="payg", kind=Plan.Kind.PAYG, unit_price_minor=1)
        model_publish(model=model, actor=None)
        entitlement_subscribe(organization=buyer, user=user, model=model, plan_id=plan.pk,
                              declared_use="commercial", territory="DE")
    return {"secret": secret, "redis": redis_process}


def spawn(command: list[str], name: str, ready: Callable[[], bool], env: dict | None = None,
          cwd: Path = ROOT) -> subprocess.Popen:
    log = open(VAR / f"{name}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=cwd, env={**ENV, **(env or {})}, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {(VAR / f'{name}.log').read_text()[-3000:]}")
        if ready():
            return process
        time.sleep(0.2)
    raise RuntimeError(f"{name} not ready")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)


def start_worker(batching: bool, queue: str = "infer.cpu") -> subprocess.Popen:
    """An inference worker consuming `queue` (its sync lane is the queue's hardware class)."""
    log = VAR / f"worker-{batching}.log"
    return spawn([sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-P", "threads",
                  "-c", "16", "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"bench{batching}@%h",
                  "--loglevel", "INFO"], f"worker-{batching}",
                 lambda: log.exists() and b"ready." in log.read_bytes(),
                 env={"INFERENCE_BATCHING": "true" if batching else "false"})


def answers(port: int, path: str) -> bool:
    """Whether a server on this port answers GET `path` with 200 (its readiness probe)."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False


def start_gunicorn(app: str, port: int, name: str, health_path: str, env: dict | None = None,
                   cwd: Path = ROOT) -> subprocess.Popen:
    """The web process's serving settings, shared by the platform and the bare server."""
    return spawn([str(Path(sys.executable).parent / "gunicorn"), app, "-b", f"127.0.0.1:{port}",
                  "-k", "gthread", "-w", "1", "--threads", "32", "--log-level", "warning"], name,
                 lambda: answers(port, health_path), env=env, cwd=cwd)


def start_web(port: int, checkout: Path = ROOT, name: str = "web") -> subprocess.Popen:
    """The platform's web process, from this checkout or another one (to compare a web-side change
    in the same run: same database, Redis and worker)."""
    env = {"PYTHONPATH": str(checkout)} if checkout != ROOT else None
    return start_gunicorn("config.wsgi:application", port, name, "/v2/health/live", env=env, cwd=checkout)


def start_bare(port: int, name: str, onnx_bytes: bytes) -> tuple[subprocess.Popen, int]:
    """bench/support/bare_server.py serving this model with the web process's settings."""
    path = VAR / f"{name}.onnx"
    path.write_bytes(onnx_bytes)
    process = start_gunicorn("bench.support.bare_server:application", port, f"bare-{name}", "/",
                             env={"MODEL_PATH": str(path)})
    return process, port
