"""OpenAI's response objects: chat.completion(.chunk) and text_completion, as the official SDK parses
them. `model` echoes what the buyer asked for (vendor.model[@version][:variant])."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inference.serving.v1.gateway import Call


# JSON may leave these unescaped inside strings, but str.splitlines(), and so requests'
# iter_lines(), ends a line at each of them: generated text holding one would cut an event in
# two for such readers. Escaped, every event is one line; the JSON value is the same.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def sse(obj: dict[str, Any]) -> bytes:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    if "\x85" in text or "\u2028" in text or "\u2029" in text:  # rare; translate() is the slow part
        text = text.translate(_LINE_BREAKS)
    return b"data: " + text.encode() + b"\n\n"


def usage(call: Call, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": call.prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": call.prompt_tokens + completion_tokens}


def _base(call: Call, obj: str) -> dict[str, Any]:
    return {"id": call.request_id, "object": obj, "created": call.created, "model": call.name,
            "system_fingerprint": f"{call.version.version}:{call.variant}"}


def chat_delta(call: Call, delta: dict[str, str], finish_reason: str | None = None) -> dict[str, Any]:
    return {**_base(call, "chat.completion.chunk"),
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}


def text_chunk(call: Call, text: str) -> dict[str, Any]:
    if call.params.kind == "chat":
        return chat_delta(call, {"content": text})
    return {**_base(call, "text_completion"),
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": None}]}


def finish_chunk(call: Call, finish_reason: str) -> dict[str, Any]:
    if call.params.kind == "chat":
        return chat_delta(call, {}, finish_reason)
    return {**_base(call, "text_completion"),
            "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": finish_reason}]}


def usage_chunk(call: Call, completion_tokens: int) -> dict[str, Any]:
    obj = "chat.completion.chunk" if call.params.kind == "chat" else "text_completion"
    return {**_base(call, obj), "choices": [], "usage": usage(call, completion_tokens)}


def completion(call: Call, text: str, finish_reason: str, completion_tokens: int) -> dict[str, Any]:
    if call.params.kind == "chat":
        choice = {"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                  "logprobs": None, "finish_reason": finish_reason}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
        obj = "text_completion"
    return {**_base(call, obj), "choices": [choice], "usage": usage(call, completion_tokens)}
