"""`modelbay chat <vendor>/<model>`: the OpenAI-compatible /v1/chat/completions, streamed (Server-Sent
Events), tokens printed as they arrive. With -m (or text piped in) one answer; otherwise a
conversation at the prompt, its history sent with each turn, until /exit or Ctrl-D."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from rich.console import Console

from modelbay_cli.api import Api, split_model_name
from modelbay_cli.errors import CliError, Exit

STREAM_READ_TIMEOUT = 300.0


@dataclass
class ChatOptions:
    target: str
    message: str | None = None
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None


def _stream_error(error: dict) -> CliError:
    # Errors before the first token come as an HTTP status; one inside the stream means the
    # generation broke on the server's side (you are billed only for the tokens delivered).
    return CliError(str(error.get("message") or "the generation failed"), exit_code=Exit.SERVER,
                    code=str(error.get("code") or error.get("type") or ""))


def stream_answer(api: Api, body: dict, write) -> tuple[str, dict]:
    """Sends one chat request; writes each text delta; returns the whole text and the usage."""
    response = api.request("POST", "/v1/chat/completions", json=body, stream=True, timeout=STREAM_READ_TIMEOUT)
    text, usage = [], {}
    with response:
        for raw in response.iter_lines():
            if not raw.startswith(b"data: "):
                continue
            data = raw[len(b"data: "):]
            if data == b"[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:  # the stream ends with an error event (e.g. the worker died)
                raise _stream_error(chunk["error"] if isinstance(chunk["error"], dict) else {"message": chunk["error"]})
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices", []):
                piece = (choice.get("delta") or {}).get("content") or ""
                if piece:
                    text.append(piece)
                    write(piece)
    return "".join(text), usage


def chat(api: Api, opts: ChatOptions, out: Console, err: Console) -> Exit:
    vendor, slug = split_model_name(opts.target)
    messages = [{"role": "system", "content": opts.system}] if opts.system else []
    params: dict = {"model": f"{vendor}.{slug}", "stream": True, "stream_options": {"include_usage": True}}
    if opts.max_tokens is not None:
        params["max_tokens"] = opts.max_tokens
    if opts.temperature is not None:
        params["temperature"] = opts.temperature

    def write(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    def turn(content: str) -> None:
        messages.append({"role": "user", "content": content})
        answer, usage = stream_answer(api, {**params, "messages": messages}, write)
        sys.stdout.write("\n")
        messages.append({"role": "assistant", "content": answer})
        if usage:
            err.print(f"[{usage.get('prompt_tokens')} prompt + {usage.get('completion_tokens')} completion tokens]")

    one_shot = opts.message if opts.message is not None else (None if sys.stdin.isatty() else sys.stdin.read())
    if one_shot is not None:
        if not one_shot.strip():
            raise CliError("Nothing to send: give a message with -m or type one.", exit_code=Exit.BAD_INPUT)
        turn(one_shot)
        return Exit.OK
    err.print(f"Chatting with {vendor}/{slug}; /exit or Ctrl-D ends, Ctrl-C stops an answer.")
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            sys.stdout.write("\n")
            return Exit.OK
        if line.strip() in ("/exit", "/quit"):
            return Exit.OK
        if not line.strip():
            continue
        try:
            turn(line)
        except KeyboardInterrupt:  # closing the stream tells the server to stop (and bill what it made)
            messages.pop()
            err.print("\n(stopped)")
