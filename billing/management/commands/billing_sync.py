"""Run the billing beat jobs now: `manage.py billing_sync [--flush] [--reconcile]`.

--flush sends the open hour too (as when an invoice is finalized), so a demo need not wait for
the hour to close; usage arriving later in that hour is sent by the reconciliation."""

import json

from django.core.management.base import BaseCommand

from billing.services.reconciliation import reconciliation_run
from billing.services.subscription_sync import stripe_objects_sync
from billing.services.usage_sync import usage_sync
from billing.stripe_client import stripe_enabled


class Command(BaseCommand):
    help = "Create missing Stripe objects, send usage to Stripe's meters, optionally reconcile."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--flush", action="store_true", help="send the current, still open hour too")
        parser.add_argument("--reconcile", action="store_true", help="then compare with Stripe and fix gaps")

    def handle(self, *args, **options) -> None:
        if not stripe_enabled():
            self.stdout.write("Stripe is not configured (STRIPE_API_KEY): local-ledger mode, nothing to send.")
            return
        report = {"objects": stripe_objects_sync(), "usage": usage_sync(flush=options["flush"])}
        if options["reconcile"]:
            run = reconciliation_run()
            report["reconciliation"] = {"id": run.pk, "status": run.status, "fixed": run.fixed,
                                        "differences": run.differences}
        self.stdout.write(json.dumps(report, indent=2, default=str))
