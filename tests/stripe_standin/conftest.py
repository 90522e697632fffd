"""A Stripe stand-in on a free port, the real stripe SDK pointed at it, and a webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from stripe_standin import StripeStandin
from tests.stripe_standin.support import WEBHOOK_SECRET, make_client


class Receiver:
    """A tiny webhook endpoint: records every delivery; can be told to fail the next N."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.fail_next = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with receiver.lock:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= 1 if failing else 0
                    receiver.deliveries.append(
                        {"body": body, "signature": self.headers["Stripe-Signature"], "failed": failing}
                    )
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [d for d in self.deliveries if not d["failed"]]

    def types(self) -> list[str]:
        return [json.loads(d["body"])["type"] for d in self.accepted()]

    def wait_for(self, event_type: str, object_id: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """The first accepted delivery of `event_type` (about `object_id`, if given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for delivery in self.accepted():
                event = json.loads(delivery["body"])
                if event["type"] == event_type and object_id in (None, event["data"]["object"].get("id")):
                    return delivery
            time.sleep(0.02)
        raise AssertionError(f"no {event_type} delivered; got {self.types()}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def standin(receiver: Receiver) -> Iterator[StripeStandin]:
    s = StripeStandin(port=0, webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET,
                      webhook_backoff_seconds=0.05)
    s.start()
    yield s
    s.stop()


@pytest.fixture
def client(standin: StripeStandin) -> stripe.StripeClient:
    return make_client(standin, max_network_retries=0)


@pytest.fixture
def metered(client: stripe.StripeClient) -> dict[str, Any]:
    """A customer subscribed to a metered price of 0.5 cents per unit."""
    customer = client.v1.customers.create({"email": "buyer@example.com"})
    meter = client.v1.billing.meters.create({
        "display_name": "Inference calls", "event_name": "inference_call",
        "default_aggregation": {"formula": "sum"},
        "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
        "value_settings": {"event_payload_key": "value"},
    })
    product = client.v1.products.create({"name": "acme.resnet"})
    price = client.v1.prices.create({
        "currency": "usd", "product": product.id, "unit_amount_decimal": "0.5",
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
    })
    subscription = client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": price.id}], "metadata": {"plan": "pay-as-you-go"},
    })
    return {"customer": customer, "meter": meter, "product": product, "price": price,
            "subscription": subscription}
