"""The demo listing: Acme AI's tiny MLP, uploaded through the real pipeline, published, and the
demo buyer subscribed. Needs the demo users (seed_demo) and a running conversion worker."""

import json

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Membership, Organization
from marketplace.demo import DEMO_INPUT, demo_listing_finish, demo_listing_upload


class Command(BaseCommand):
    help = "Create the demo model listing (idempotent); with --wait, publish it once ready."
    # call_command(..., tick=f): f runs between polls of the wait, so the run command keeps
    # supervising its processes (restarting one that dies) while the demo model converts.
    stealth_options = ("tick",)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the pipeline")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options) -> None:
        vendor = Organization.objects.filter(slug="acme-ai").first()
        buyer = Organization.objects.filter(slug="globex").first()
        if vendor is None or buyer is None:
            raise CommandError("Run seed_demo first: the demo organizations are missing.")
        owner = lambda org: Membership.objects.filter(organization=org, role="owner").first().user  # noqa: E731
        model = demo_listing_upload(vendor=vendor, vendor_user=owner(vendor))
        ready = options["wait"] > 0 and demo_listing_finish(
            model=model, vendor_user=owner(vendor), buyer=buyer, buyer_user=owner(buyer),
            wait_seconds=options["wait"], while_waiting=options.get("tick") or (lambda: None),
        )
        result = {"model": model.full_name, "ready": bool(ready), "example_request": {"inputs": [DEMO_INPUT]}}
        self.stdout.write(json.dumps(result) if options["json"] else f"{model.full_name}: ready={bool(ready)}")
