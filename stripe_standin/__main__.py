"""python -m stripe_standin --port 12111 [--webhook-url URL --webhook-secret whsec_...]
[--state-file path.json]"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from .standin import StripeStandin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stripe_standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", help="where to POST signed events")
    parser.add_argument("--webhook-secret", help="whsec_... used to sign events")
    parser.add_argument("--state-file", help="persist all objects to this JSON file and reload them at start")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    standin = StripeStandin(port=args.port, host=args.host, webhook_url=args.webhook_url,
                            webhook_secret=args.webhook_secret, state_file=args.state_file)
    base_url = standin.start()
    print(f"Stripe stand-in listening on {base_url} (controls at {base_url}/_standin/state)", flush=True)

    def _stop(*_: object) -> None:
        standin.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.pause()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
