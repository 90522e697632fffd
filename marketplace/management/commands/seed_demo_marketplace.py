"""The demo listings: Acme AI's tiny MLP (or, with --chat, its tiny chat model), uploaded through
the real pipeline, published, and the demo buyer subscribed. Needs the demo users (seed_demo) and
a running conversion worker."""

import json

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Membership, Organization
from marketplace.demo import DEMO_INPUT, demo_chat_upload, demo_listing_finish, demo_listing_upload


class Command(BaseCommand):
    help = "Create the demo model listing (idempotent); with --wait, publish it once ready."
    # call_command(..., tick=f): f runs between polls of the wait, so the run command keeps
    # supervising its processes (restarting one that dies) while the demo model converts.
    stealth_options = ("tick",)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the pipeline")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--chat", action="store_true", help="the demo chat model (/v1) instead of the MLP")

    def handle(self, *args, **options) -> None:
        vendor = Organization.objects.filter(slug="acme-ai").first()
        buyer = Organization.objects.filter(slug="globex").first()
        if vendor is None or buyer is None:
            raise CommandError("Run seed_demo first: the demo organizations are missing.")
        owner = lambda org: Membership.objects.filter(organization=org, role="owner").first().user  # noqa: E731
        upload = demo_chat_upload if options["chat"] else demo_listing_upload
        model = upload(vendor=vendor, vendor_user=owner(vendor))
        ready = options["wait"] > 0 and demo_listing_finish(
            model=model, vendor_user=owner(vendor), buyer=buyer, buyer_user=owner(buyer),
            wait_seconds=options["wait"], while_waiting=options.get("tick") or (lambda: None),
        )
        example = ({"model": model.full_name, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 16,
                    "stream": True} if options["chat"] else {"inputs": [DEMO_INPUT]})  # fmt: skip
        result = {"model": model.full_name, "ready": bool(ready), "example_request": example}
        self.stdout.write(json.dumps(result) if options["json"] else f"{model.full_name}: ready={bool(ready)}")
