"""Chat messages -> the model's own prompt text, rendered with the chat template the vendor shipped
in tokenizer_config.json.

Templates are Jinja, written for Hugging Face's `apply_chat_template`; they are vendor text, so
they run in Jinja's immutable sandbox (no attribute access to Python internals, no imports), with
the same environment transformers uses (trim_blocks, lstrip_blocks, loop controls, `tojson`,
`raise_exception`, `strftime_now`), so that a template renders here exactly as it does there.
The rendered text is tokenized without adding special tokens, as transformers does: the template
itself writes the BOS token where the model expects it.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

ROLES = ("system", "developer", "user", "assistant", "tool")


class TemplateError(ValueError):
    """The template refused the conversation (its own `raise_exception`) or could not render."""


def _raise(message: str) -> None:
    raise TemplateError(message)


@lru_cache(maxsize=64)
def _compiled(template: str):
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda value, indent=None, **_: json.dumps(value, indent=indent, ensure_ascii=False)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def render(*, template: str, messages: list[dict[str, Any]], special_tokens: dict[str, str],
           add_generation_prompt: bool = True) -> str:
    """The prompt text for `messages` ([{"role", "content"}] with string content)."""
    from jinja2 import TemplateError as JinjaError

    try:
        return _compiled(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                          **special_tokens)
    except TemplateError:
        raise
    except JinjaError as exc:
        raise TemplateError(f"the model's chat template could not render these messages ({type(exc).__name__})") \
            from None


SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token")


def chat_info(tokenizer_config: dict[str, Any], *, template_file: str | None = None) -> dict[str, Any]:
    """What the web process needs to render prompts, from tokenizer_config.json (and a separate
    chat_template.jinja, which newer transformers write instead): the template text and the
    special tokens templates refer to (`{{ bos_token }}`). Special tokens may be strings or
    serialized AddedTokens ({"content": ...})."""
    template = tokenizer_config.get("chat_template") or template_file or ""
    if isinstance(template, list):  # named templates: [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), "")
    special = {}
    for name in SPECIAL_TOKEN_NAMES:
        value = tokenizer_config.get(name)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            special[name] = value
    return {"template": template if isinstance(template, str) else "", "special_tokens": special}
