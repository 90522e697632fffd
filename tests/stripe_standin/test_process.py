"""The stand-in runs as its own process and can keep its objects across restarts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import stripe

from stripe_standin import StripeStandin
from tests.stripe_standin.support import make_client

ROOT = Path(__file__).parents[2]


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "stripe.json"
    with StripeStandin(port=0, state_file=str(state)) as first:
        customer = make_client(first).v1.customers.create({"email": "kept@example.com"})
    with StripeStandin(port=0, state_file=str(state)) as second:
        assert make_client(second).v1.customers.retrieve(customer.id).email == "kept@example.com"


def test_cli_serves_the_api(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "stripe_standin", "--port", str(port)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "listening on" in process.stdout.readline()
        client = stripe.StripeClient("sk_test_cli", base_addresses={"api": f"http://127.0.0.1:{port}"})
        deadline = time.monotonic() + 5
        while True:
            try:
                assert client.v1.customers.create({}).id.startswith("cus_")
                break
            except stripe.APIConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=5)
