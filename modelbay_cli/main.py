"""The `modelbay` command: argument parsing, and one place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from modelbay_cli import __version__
from modelbay_cli.account import login, models, usage
from modelbay_cli.api import Api
from modelbay_cli.chat import ChatOptions, chat
from modelbay_cli.config import DEFAULT_URL, resolve
from modelbay_cli.errors import EXIT_HELP, CliError, Exit
from modelbay_cli.files import parse_size
from modelbay_cli.predict import predict
from modelbay_cli.push import PushOptions, push


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="modelbay", description="Push models to a Modelbay site, call them and read your usage.",
        epilog=EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("-V", "--client-version", action="version", version=f"modelbay {__version__}")
    # --url and --key work before or after the command (`modelbay login --key ...`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS,
                        help=f"site URL (env MODELBAY_URL, else the stored one, else {DEFAULT_URL})")
    common.add_argument("--key", default=argparse.SUPPRESS,
                        help="API key (env MODELBAY_API_KEY, else the one `modelbay login` stored)")
    for action in common._actions:
        root._add_action(action)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], **kwargs)

    command("login", help="check an API key and store it (0600) with the site URL",
            description="Without --key, the key is asked for (not echoed) or read from standard input.")

    p = command("push", help="upload a model version (resumable) and follow its pipeline",
                            description="Upload a file or a folder (e.g. a sharded safetensors checkpoint with "
                            "its config.json). Killed or interrupted? Run the same command again: parts "
                            "already on the server are skipped.")
    p.add_argument("model", metavar="VENDOR/MODEL")
    p.add_argument("source", metavar="FOLDER_OR_FILE", type=Path)
    p.add_argument("--version", required=True, help="semantic version of the new version, e.g. 1.2.0")
    p.add_argument("--part-size", type=parse_size, help="e.g. 64MiB (default: the server's)")
    p.add_argument("--jobs", type=int, default=2, help="parts sent at once (default 2)")
    p.add_argument("--no-wait", dest="wait", action="store_false", help="return once the upload is complete")
    p.add_argument("--wait-timeout", type=float, default=3600.0, help="seconds to follow the pipeline")
    p.add_argument("--create", action="store_true", help="create a private draft listing if there is none")
    p.add_argument("--example-inputs", type=Path, metavar="FILE.json",
                   help='inputs for the parity check, {"input name": nested list}')

    p = command("models", help="list the catalog, or your own models with --mine")
    p.add_argument("--mine", action="store_true", help="your organization's models (vendor key)")
    p.add_argument("-q", "--query", default="", help="search the catalog")

    p = command("predict", help="call a tensor model (Open Inference Protocol, /v2)")
    p.add_argument("model", metavar="VENDOR/MODEL")
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=@FILE.npy",
                   help="an input: NAME=@file.npy, NAME=@file.json or NAME='[[1, 2]]' (repeat per input)")
    p.add_argument("--model-version", help="a specific version (default: the one serving)")
    p.add_argument("--json", action="store_true", help="print the protocol's JSON answer")
    p.add_argument("--save", type=Path, metavar="DIR", help="also write each output as DIR/<name>.npy")

    p = command("chat", help="chat with a language model (/v1, streamed)")
    p.add_argument("model", metavar="VENDOR/MODEL")
    p.add_argument("-m", "--message", help="send one message and print the answer (else: interactive)")
    p.add_argument("--system", help="a system message")
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--temperature", type=float)

    p = command("usage", help="your organization's usage by day and model")
    p.add_argument("--since", help="YYYY-MM-DD (default: 31 days ago)")
    p.add_argument("--until", help="YYYY-MM-DD (default: tomorrow)")
    return root


def run(args: argparse.Namespace, out: Console, err: Console) -> Exit:
    url, key = getattr(args, "url", None), getattr(args, "key", None)
    settings = resolve(url, key)
    if args.command == "login":
        return login(settings.url, key or os.environ.get("MODELBAY_API_KEY"), out)
    if args.command == "models" and not args.mine:  # the catalog is public: no key, so no scope needed
        return models(Api(settings.url, None), mine=False, query=args.query, out=out)
    api = Api(settings.url, settings.require_key())
    if args.command == "models":
        return models(api, mine=True, query=args.query, out=out)
    if args.command == "push":
        return push(api, PushOptions(target=args.model, source=args.source, version=args.version,
                                     part_size=args.part_size, jobs=args.jobs, wait=args.wait,
                                     wait_timeout=args.wait_timeout, create=args.create,
                                     example_inputs=args.example_inputs), out, err)
    if args.command == "predict":
        return predict(api, args.model, args.input, version=args.model_version, as_json=args.json,
                       save_dir=args.save, out=out, err=err)
    if args.command == "chat":
        return chat(api, ChatOptions(target=args.model, message=args.message, system=args.system,
                                     max_tokens=args.max_tokens, temperature=args.temperature), out, err)
    return usage(api, since=args.since, until=args.until, out=out)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # soft_wrap: long lines stay whole (a terminal wraps them; a pipe or log gets them intact).
    out, err = Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)
    try:
        return int(run(args, out, err))
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        missing = error.details.get("missing")
        if isinstance(missing, dict):
            print(f"missing parts: {missing}", file=sys.stderr)
        return int(error.exit_code)
    except KeyboardInterrupt:
        err.print("\ninterrupted" + (": run the same push again to resume; parts already sent are kept"
                                     if args.command == "push" else ""))
        return int(Exit.INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
