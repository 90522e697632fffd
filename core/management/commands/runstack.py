"""`make run`: the whole platform on one machine — embedded Redis (unless REDIS_URL is set),
migrations, demo data (an MLP on /v2, then a chat model on /v1), web, Celery workers and beat —
kept running by core.supervisor: a child that dies is restarted with backoff, /readyz names what
is down meanwhile, and Ctrl-C or SIGTERM at any moment (a migration, the wait for a demo model)
stops every child."""

import json
import os
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from io import StringIO

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from core import embedded_redis
from core.redis import get_redis
from core.supervisor import STATE_ENV, Child, StopRequested, Supervisor


def _spawner(command: list[str]) -> Callable[[], subprocess.Popen]:
    # Each child leads its own process group, so stopping it also stops what it forked.
    return lambda: subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)


def _inference_worker_serves(process: subprocess.Popen) -> bool:
    """The inference worker's crash watch heartbeats once the worker is ready and its sync-lane
    threads run: until then, buyers' calls would only wait."""
    from inference.serving.workers.quarantine import alive_key

    return bool(get_redis().exists(alive_key(socket.gethostname(), process.pid)))


class Command(BaseCommand):
    help = "Run web, Celery workers and beat on the embedded default (or on configured services)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--no-seed", action="store_true")

    def handle(self, *args, **options) -> None:
        state_file = settings.VAR_DIR / "processes.json"
        os.environ[STATE_ENV] = str(state_file)  # inherited by the children: readyz reports it
        supervisor = Supervisor(log=self._say, state_file=state_file)
        supervisor.handle_signals()
        try:
            self._start(supervisor, options)
            supervisor.run()
        except StopRequested:
            pass  # Ctrl-C or SIGTERM: a normal end
        finally:
            supervisor.stop()
            self._say("Stopped.")

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()  # interleaved with the children's output, which is not buffered here

    def _start(self, supervisor: Supervisor, options: dict) -> None:
        python = sys.executable
        self._check_port_free(options["host"], options["port"])
        if not os.environ.get("REDIS_URL"):
            self._start_redis(supervisor)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        demo = {}
        if not options["no_seed"]:
            out = StringIO()
            call_command("seed_demo", json=True, stdout=out)
            demo = json.loads(out.getvalue())

        address = f"{options['host']}:{options['port']}"
        if not settings.STRIPE_API_KEY:  # the demo shows the Stripe path on the local stand-in
            self._start_stripe_standin(supervisor, python, address)
        # 64 threads a process: a streamed language-model answer holds its thread (blocked in Redis,
        # GIL released) for the whole generation, and 64 open streams must leave room for other calls.
        supervisor.add(Child("web", _spawner([
            python, "-m", "gunicorn", "config.wsgi", "--bind", address, "--worker-class", "gthread",
            "--workers", "2", "--threads", "64", "--access-logfile", "-", "--graceful-timeout", "10"])))
        celery = [python, "-m", "celery", "-A", "config"]
        supervisor.add(Child("convert-worker", _spawner([
            *celery, "worker", "-Q", "convert,default", "-c", "1", "-n", "convert@%h", "--loglevel", "INFO"])))
        # Inference tasks mostly wait on ONNX Runtime, which releases the GIL: threads let one
        # process batch concurrent requests together.
        supervisor.add(Child("infer-worker", _spawner([
            *celery, "worker", "-Q", "infer.cpu", "-P", "threads", "-c", "16", "-n", "infer@%h",
            "--loglevel", "INFO"]), ready=_inference_worker_serves))
        supervisor.add(Child("beat", _spawner([
            *celery, "beat", "-s", settings.CELERY_BEAT_SCHEDULE_FILENAME, "--loglevel", "INFO"])))
        base = f"http://{address}"
        self._wait_ready(base, supervisor)
        if demo:
            demo["listing"] = self._demo_listing(supervisor)
        self._banner(base, demo)
        if demo:
            self._demo_chat(supervisor, base, demo["api_keys"]["buyer"])

    def _start_redis(self, supervisor: Supervisor) -> None:
        socket_path = settings.EMBEDDED_REDIS_SOCKET
        if embedded_redis.is_up(socket_path):
            self._say(f"Using the Redis already answering on {socket_path}; this run does not "
                      "supervise it (stop the run that started it to get a supervised one).")
            return
        data_dir = settings.VAR_DIR / "redis"
        # AOF: queued tasks, counters and reservations survive a restart of Redis itself.
        supervisor.add(Child(
            "redis", lambda: embedded_redis.start(socket_path, data_dir=data_dir, persist=True),
            stop_last=True))  # the others flush to it while they shut down

    def _demo_listing(self, supervisor: Supervisor) -> dict:
        """Uploads the demo model through the pipeline the workers just started, and waits,
        supervising meanwhile (a child dying now is restarted; Ctrl-C raises out of the wait)."""
        self._say("Converting the demo model through the pipeline ...")
        out = StringIO()
        call_command("seed_demo_marketplace", wait=180, json=True, stdout=out, tick=supervisor.tick)
        return json.loads(out.getvalue())

    def _demo_chat(self, supervisor: Supervisor, base: str, buyer_key: str) -> None:
        """The demo chat model is built and converted after the banner, while the stack already
        serves; a second block says how to call it once it is ready."""
        self._say("Getting the demo chat model ready (the first run builds and converts it, usually in under a "
                  "minute; everything above works meanwhile) ...")
        out = StringIO()
        try:
            call_command("seed_demo_marketplace", chat=True, wait=600, json=True, stdout=out, tick=supervisor.tick)
        except subprocess.SubprocessError as exc:
            reason = (getattr(exc, "stderr", b"") or b"").decode(errors="replace").strip().splitlines()[-1:]
            self._say(f"The demo chat model could not be built ({' '.join(reason) or exc}); the rest runs on.")
            return
        listing = json.loads(out.getvalue())
        if not listing["ready"]:
            self._say(f"The demo chat model {listing['model']} did not become ready; its pipeline is on the "
                      f"vendor portal ({base}/vendor/).")
            return
        body = json.dumps(listing["example_request"], separators=(",", ":"))
        vendor, _, slug = listing["model"].partition(".")
        playground = reverse("console:playground", kwargs={"vendor": vendor, "slug": slug})
        self._say("\n".join([
            "",
            f"Try the chat model: the buyer calls {listing['model']} on the OpenAI-compatible API, billed per "
            "token (random weights: the reply is meaningless text)",
            f"  curl -s -N -H 'Authorization: Bearer {buyer_key}' -H 'Content-Type: application/json' "
            f"-d '{body}' {base}/v1/chat/completions",
            f"  or: openai.OpenAI(base_url=\"{base}/v1\", api_key=\"{buyer_key}\")",
            f"  or in the browser, signed in as the buyer: {base}{playground}",
            "",
        ]))

    def _check_port_free(self, host: str, port: int) -> None:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise CommandError(f"cannot listen on {host}:{port} ({exc.strerror}); stop what "
                                   "uses it or pick another port: PORT=9000 make run") from exc

    def _start_stripe_standin(self, supervisor: Supervisor, python: str, address: str) -> None:
        """One more child: the Stripe stand-in, pushing webhooks to the web process. The children
        started after it inherit STRIPE_* from this environment."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # Per run: a secret fixed in the source would let anyone who reads it forge webhooks.
        secret = f"whsec_{secrets.token_hex(24)}"
        supervisor.add(Child("stripe-standin", _spawner([
            python, "-m", "stripe_standin", "--port", str(port),
            "--webhook-url", f"http://{address}/api/v1/billing/stripe/webhook",
            "--webhook-secret", secret,
            "--state-file", str(settings.VAR_DIR / "stripe-standin.json")])))
        os.environ.update(STRIPE_API_KEY="sk_test_standin", STRIPE_API_BASE=f"http://127.0.0.1:{port}",
                          STRIPE_WEBHOOK_SECRET=secret)

    def _wait_ready(self, base: str, supervisor: Supervisor, timeout: float = 90) -> None:
        last = "no answer"

        def ready() -> bool:
            nonlocal last
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                    return response.status == 200
            except urllib.error.HTTPError as exc:
                last = exc.read().decode(errors="replace")
            except OSError as exc:
                last = str(exc)
            return False

        if not supervisor.run(timeout, until=ready):
            raise CommandError(f"the stack was not ready at {base}/readyz within {timeout}s (last "
                               f"answer: {last}); the output above says which process fails and why")

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
        lines += ["", "A process that dies is restarted; Ctrl-C stops everything.", ""]
        self._say("\n".join(lines))
