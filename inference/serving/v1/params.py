"""The OpenAI request bodies of /v1/chat/completions and /v1/completions, checked field by field.

Everything a buyer can send is either used, or refused with a 400 that names the parameter:
silently ignoring `n: 3` or `logprobs` would return something other than what was asked for. A
parameter this API does not offer is accepted only at a value that asks for nothing (`NEUTRAL`).
`user` and `metadata`-like labels that change nothing about the answer are accepted and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inference.runtime.chat import ROLES
from inference.serving.v1.errors import OpenAIError

COMMON = {"model", "max_tokens", "temperature", "top_p", "top_k", "seed", "stop", "stream", "stream_options",
          "n", "user", "presence_penalty", "frequency_penalty", "logit_bias"}
CHAT_ONLY = {"messages", "max_completion_tokens"}
COMPLETION_ONLY = {"prompt"}
# OpenAI parameters this API knows and does not offer, with what to do instead.
UNSUPPORTED = {
    "logprobs": "log probabilities are not returned", "top_logprobs": "log probabilities are not returned",
    "tools": "tool calling is not offered", "tool_choice": "tool calling is not offered",
    "functions": "function calling is not offered", "function_call": "function calling is not offered",
    "response_format": "structured output is not offered",
    "echo": "echo is not offered", "suffix": "suffix is not offered", "best_of": "best_of is not offered",
    "parallel_tool_calls": "tool calling is not offered", "audio": "audio is not offered",
    "modalities": "only text is offered", "prediction": "predicted outputs are not offered",
    "reasoning_effort": "reasoning effort is not offered", "service_tier": "service tiers are not offered",
    "store": "completions are never stored", "web_search_options": "web search is not offered",
}
# Values of those parameters that ask for nothing beyond what this API does anyway. Many clients
# send them on every request (`logprobs: false`, `tool_choice: none`, `response_format: text`),
# so they are accepted; a null is accepted for any of them. Compared with their types, so that
# `logprobs: 0` (on /v1/completions: the chosen token's log probability) is not taken for false.
NEUTRAL = {
    "logprobs": (False,), "top_logprobs": (0,), "echo": (False,), "suffix": ("",), "best_of": (1,),
    "tool_choice": ("none",), "function_call": ("none",), "response_format": ({"type": "text"},),
    "modalities": (["text"],), "store": (False,), "service_tier": ("auto", "default"),
}
MAX_STOP = 4
MAX_LOGIT_BIAS = 300  # OpenAI's limit
MAX_PROMPT_CHARS = 1_000_000


@dataclass
class GenerationParams:
    model: str
    kind: str  # "chat" | "completion"
    messages: list[dict[str, str]] = field(default_factory=list)
    prompt: str = ""
    max_tokens: int | None = None
    max_tokens_param: str = "max_tokens"  # the name the buyer used, for error messages
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k filter
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: list[tuple[int, float]] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False

    def sampling(self) -> dict[str, Any]:
        # OpenAI takes any 64-bit seed; numpy's generators take non-negative ones: the same bits.
        seed = None if self.seed is None else self.seed % 2**64
        return {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k, "seed": seed,
                "presence_penalty": self.presence_penalty, "frequency_penalty": self.frequency_penalty,
                "logit_bias": self.logit_bias}


def _bad(message: str, param: str | None, code: str = "invalid_value") -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


def _number(body: dict, name: str, low: float, high: float, default: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(f"'{name}' must be a number from {low:g} to {high:g}.", name)
    return float(value)


def _integer(body: dict, name: str, low: int, high: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise _bad(f"'{name}' must be a whole number {bound}.", name)
    return value


def parse(body: Any, *, kind: str) -> GenerationParams:
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.", None, "invalid_request")
    allowed = COMMON | (CHAT_ONLY if kind == "chat" else COMPLETION_ONLY)
    for name in body:
        if name in UNSUPPORTED:
            if _neutral(name, body[name]):
                continue
            raise _bad(f"'{name}' is not supported: {UNSUPPORTED[name]}. Remove it from the request.", name,
                       "unsupported_parameter")
        if name not in allowed:
            raise _bad(f"Unknown parameter '{name}'. Supported: {', '.join(sorted(allowed))}.", name,
                       "unknown_parameter")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required: vendor-slug.model-slug (see GET /v1/models).", "model", "missing_required")
    n = _integer(body, "n", 1)
    if n not in (None, 1):
        raise _bad("Only n=1 is supported; send n separate requests for n answers.", "n", "unsupported_value")
    params = GenerationParams(model=model, kind=kind)
    params.temperature = _number(body, "temperature", 0, 2, 1.0)
    params.top_p = _number(body, "top_p", 0, 1, 1.0)
    if params.top_p == 0:
        raise _bad("'top_p' must be above 0; use temperature 0 for greedy decoding.", "top_p")
    params.top_k = _integer(body, "top_k", 0) or 0
    params.seed = _integer(body, "seed", -(2**63), 2**63 - 1)
    params.presence_penalty = _number(body, "presence_penalty", -2, 2, 0.0)
    params.frequency_penalty = _number(body, "frequency_penalty", -2, 2, 0.0)
    params.logit_bias = _logit_bias(body.get("logit_bias"))
    params.stop = _stop(body.get("stop"))
    params.stream = _flag(body, "stream")
    params.include_usage = _stream_options(body, params.stream)
    max_tokens = _integer(body, "max_tokens", 1)
    if kind == "chat":
        completion_max = _integer(body, "max_completion_tokens", 1)
        if max_tokens is not None and completion_max is not None and max_tokens != completion_max:
            raise _bad("Send max_completion_tokens or max_tokens, not both with different values.",
                       "max_completion_tokens")
        params.max_tokens = completion_max if completion_max is not None else max_tokens
        params.max_tokens_param = "max_completion_tokens" if completion_max is not None else "max_tokens"
        params.messages = _messages(body.get("messages"))
    else:
        params.max_tokens = 16 if max_tokens is None else max_tokens  # OpenAI's default for completions
        params.prompt = _prompt(body.get("prompt"))
    return params


def _logit_bias(value: Any) -> list[tuple[int, float]]:
    """OpenAI's map of token ids (as strings) to a number from -100 to 100 added to the logit."""
    if value is None:
        return []
    example = 'e.g. {"50256": -100} to forbid token 50256 or {"50256": 100} to force it'
    if not isinstance(value, dict) or len(value) > MAX_LOGIT_BIAS:
        raise _bad(f"'logit_bias' maps up to {MAX_LOGIT_BIAS} token ids to numbers from -100 to 100, {example}.",
                   "logit_bias")  # fmt: skip
    pairs = []
    for token, bias in value.items():
        if not (isinstance(token, str) and token.isascii() and token.isdigit()):
            raise _bad(f"'logit_bias' keys are token ids written as strings, {example}; got {token!r}.", "logit_bias")
        if isinstance(bias, bool) or not isinstance(bias, int | float) or not -100 <= bias <= 100:
            raise _bad(f"'logit_bias' values are numbers from -100 to 100; token {token} has {bias!r}.", "logit_bias")
        pairs.append((int(token), float(bias)))
    return pairs


def _neutral(name: str, value: Any) -> bool:
    return value is None or any(type(value) is type(v) and value == v for v in NEUTRAL.get(name, ()))


def _flag(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(f"'{name}' must be true or false.", name)
    return value


def _stream_options(body: dict, stream: bool) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not stream:
        raise _bad("'stream_options' is only allowed with stream: true.", "stream_options")
    if not isinstance(options, dict) or set(options) - {"include_usage"}:
        raise _bad("'stream_options' takes only include_usage (true or false).", "stream_options")
    return _flag(options, "include_usage")


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > MAX_STOP:
        raise _bad(f"'stop' is a non-empty string or a list of up to {MAX_STOP} of them.", "stop")
    return stops


def _text(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": "..."}], the multi-part form
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _bad(f"messages[{index}].content: only text parts ({{\"type\": \"text\", \"text\": ...}}) "
                           "are supported.", f"messages[{index}].content")
            parts.append(part["text"])
        return "".join(parts)
    raise _bad(f"messages[{index}].content must be a string or a list of text parts.", f"messages[{index}].content")


def _messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise _bad("'messages' is a non-empty list of {\"role\", \"content\"} objects.", "messages",
                   "missing_required" if value is None else "invalid_value")
    messages, total = [], 0
    for index, message in enumerate(value):
        if not isinstance(message, dict):
            raise _bad(f"messages[{index}] must be an object with role and content.", f"messages[{index}]")
        role = message.get("role")
        if role not in ROLES:
            raise _bad(f"messages[{index}].role must be one of {', '.join(ROLES)}.", f"messages[{index}].role")
        extra = set(message) - {"role", "content", "name"}
        if extra:
            raise _bad(f"messages[{index}] has fields this API does not use: {', '.join(sorted(extra))}.",
                       f"messages[{index}]")
        text = _text(message.get("content"), index)
        total += len(text)
        messages.append({"role": role, "content": text})
    if total > MAX_PROMPT_CHARS:
        raise _bad(f"The messages hold {total} characters; the limit is {MAX_PROMPT_CHARS}.", "messages")
    return messages


def _prompt(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        value = value[0]
    if not isinstance(value, str) or not value:
        raise _bad("'prompt' is a non-empty string (one prompt per request).", "prompt",
                   "missing_required" if value is None else "invalid_value")
    if len(value) > MAX_PROMPT_CHARS:
        raise _bad(f"The prompt holds {len(value)} characters; the limit is {MAX_PROMPT_CHARS}.", "prompt")
    return value
