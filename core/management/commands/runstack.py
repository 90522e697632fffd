"""`make run`: the whole platform on one machine — embedded Redis (unless REDIS_URL is set),
migrations, demo data, web, Celery workers and beat. Ctrl-C stops every child."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from io import StringIO

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from core import embedded_redis


class Stack:
    def __init__(self, log) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.log = log

    def spawn(self, name: str, command: list[str]) -> None:
        # Each child leads its own process group, so stopping it also stops what it forked.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        self.children.append((name, process))

    def adopt(self, name: str, process: subprocess.Popen) -> None:
        self.children.append((name, process))

    def first_exited(self) -> tuple[str, int] | None:
        for name, process in self.children:
            if process.poll() is not None:
                return name, process.returncode
        return None

    def stop(self, timeout: float = 15) -> None:
        for _, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _, process in reversed(self.children):
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class Command(BaseCommand):
    help = "Run web, Celery workers and beat on the embedded default (or on configured services)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--no-seed", action="store_true")

    def handle(self, *args, **options) -> None:
        stack = Stack(self.stdout.write)
        stopping = False

        def request_stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            self._start(stack, options)
            while not stopping:
                exited = stack.first_exited()
                if exited:
                    raise CommandError(f"{exited[0]} exited with status {exited[1]}; stopping the stack.")
                time.sleep(0.5)
        finally:
            self.stdout.write("Stopping web, workers, beat and Redis ...")
            stack.stop()
            self.stdout.write("Stopped.")

    def _start(self, stack: Stack, options: dict) -> None:
        python = sys.executable
        if not os.environ.get("REDIS_URL"):
            socket_path = settings.EMBEDDED_REDIS_SOCKET
            if not embedded_redis.is_up(socket_path):
                stack.adopt("redis", embedded_redis.start(socket_path, data_dir=settings.VAR_DIR / "redis", persist=True))
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        demo = {}
        if not options["no_seed"]:
            out = StringIO()
            call_command("seed_demo", json=True, stdout=out)
            demo = json.loads(out.getvalue())

        address = f"{options['host']}:{options['port']}"
        if not settings.STRIPE_API_KEY:  # the demo shows the Stripe path on the local stand-in
            self._start_stripe_standin(stack, python, address)
        stack.spawn("web", [python, "-m", "gunicorn", "config.wsgi", "--bind", address,
                            "--worker-class", "gthread", "--workers", "2", "--threads", "16",
                            "--access-logfile", "-", "--graceful-timeout", "10"])
        celery = [python, "-m", "celery", "-A", "config"]
        stack.spawn("convert-worker", [*celery, "worker", "-Q", "convert,default", "-c", "1",
                                       "-n", "convert@%h", "--loglevel", "INFO"])
        # Inference tasks mostly wait on ONNX Runtime, which releases the GIL: threads let one
        # process batch concurrent requests together.
        stack.spawn("infer-worker", [*celery, "worker", "-Q", "infer.cpu", "-P", "threads", "-c", "16",
                                     "-n", "infer@%h", "--loglevel", "INFO"])
        stack.spawn("beat", [*celery, "beat", "-s", settings.CELERY_BEAT_SCHEDULE_FILENAME,
                             "--loglevel", "INFO"])
        base = f"http://{address}"
        self._wait_ready(base, stack)
        if demo:
            demo["listing"] = self._demo_listing()
        self._banner(base, demo)

    def _demo_listing(self) -> dict:
        """Uploads the demo model through the pipeline the workers just started, and waits."""
        self.stdout.write("Converting the demo model through the pipeline ...")
        out = StringIO()
        call_command("seed_demo_marketplace", wait=180, json=True, stdout=out)
        return json.loads(out.getvalue())

    def _start_stripe_standin(self, stack: Stack, python: str, address: str) -> None:
        """One more child: the Stripe stand-in, pushing webhooks to the web process. The children
        started after it inherit STRIPE_* from this environment."""
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        secret = "whsec_modelbay_demo"
        stack.spawn("stripe-standin", [python, "-m", "billing.stripe_standin", "--port", str(port),
                                       "--webhook-url", f"http://{address}/api/v1/billing/stripe/webhook",
                                       "--webhook-secret", secret,
                                       "--state-file", str(settings.VAR_DIR / "stripe-standin.json")])
        os.environ.update(STRIPE_API_KEY="sk_test_standin", STRIPE_API_BASE=f"http://127.0.0.1:{port}",
                          STRIPE_WEBHOOK_SECRET=secret)

    def _wait_ready(self, base: str, stack: Stack, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = stack.first_exited()
            if exited:
                raise CommandError(f"{exited[0]} exited with status {exited[1]} during start-up.")
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise CommandError(f"the web process did not become ready at {base}/readyz within {timeout}s")

    def _banner(self, base: str, demo: dict) -> None:
        lines = [
            "",
            "Modelbay is running.",
            f"  web        {base}/",
            f"  catalog    {base}/catalog/",
            f"  vendor     {base}/vendor/",
            f"  console    {base}/console/",
            f"  dashboard  {base}/dashboard/   (staff)",
            f"  API docs   {base}/api/docs/",
            f"  admin      {base}/admin/",
            f"  health     {base}/readyz",
        ]
        if demo:
            lines.append(f"  logins (password: {demo['password']}):")
            lines += [f"    {role:7} {email}" for role, email in demo["users"].items()]
            lines.append("  API keys:")
            lines += [f"    {role:7} {key}" for role, key in demo["api_keys"].items()]
            listing = demo["listing"]
            body = json.dumps(listing["example_request"], separators=(",", ":"))
            lines += ["", f"Try it: the buyer calls {listing['model']} (metered; the receipt is in the headers)"]
            if not listing["ready"]:
                lines.append("  (the demo model is not ready yet; see the vendor portal for its pipeline)")
            lines.append(
                f"  curl -s -i -H 'Authorization: Bearer {demo['api_keys']['buyer']}' "
                f"-H 'Content-Type: application/json' -d '{body}' {base}/v2/models/{listing['model']}/infer"
            )
        if os.environ.get("STRIPE_API_BASE"):
            lines.append(f"  Stripe stand-in {os.environ['STRIPE_API_BASE']}/_standin/state "
                         "(POST /_standin/clock {\"advance_seconds\": 2764800} bills the month)")
        lines += ["", "Ctrl-C stops everything.", ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
