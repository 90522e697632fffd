"""The prompt's token ids, counted in the web process before anything is reserved or queued.

The gateway must know the prompt's length to refuse a prompt over the context length (400), to
reserve its price before generating, and to meter it. So the web process renders the chat
template (runtime/chat.py) and tokenizes with the version's own tokenizer.json (the `tokenizers`
library: no transformers, no torch), cached per process by artifact name. The worker generates
from these ids; it never re-tokenizes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from inference.runtime.chat import TemplateError, render
from inference.serving.v1.errors import OpenAIError
from inference.serving.v1.params import GenerationParams
from marketplace.artifacts import artifact_read
from marketplace.models import ModelVersion

_CACHE_SIZE = 16
_tokenizers: OrderedDict[str, object] = OrderedDict()
_lock = threading.Lock()


def tokenizer_for(version: ModelVersion):
    from tokenizers import Tokenizer

    name = version.tokenizer_artifact
    if not name:
        raise OpenAIError(409, f"Version {version.version} of {version.model.full_name} has no tokenizer.",
                          code="no_tokenizer")
    with _lock:
        found = _tokenizers.get(name)
        if found is not None:
            _tokenizers.move_to_end(name)
            return found
    loaded = Tokenizer.from_str(artifact_read(organization=version.model.organization, name=name).decode())
    loaded.no_padding()
    loaded.no_truncation()  # a prompt over the context is refused, never silently cut
    with _lock:
        _tokenizers[name] = loaded
        while len(_tokenizers) > _CACHE_SIZE:
            _tokenizers.popitem(last=False)
    return loaded


def prompt_ids(*, version: ModelVersion, params: GenerationParams) -> list[int]:
    tokenizer = tokenizer_for(version)
    if params.kind == "completion":
        return list(tokenizer.encode(params.prompt, add_special_tokens=True).ids)
    chat = (version.signature or {}).get("chat") or {}
    if not chat.get("template"):
        raise OpenAIError(400, f"{version.model.full_name} ships no chat template, so it cannot take messages; "
                               "send a prompt to POST /v1/completions instead.", param="messages",
                          code="no_chat_template")
    try:
        text = render(template=chat["template"], messages=params.messages,
                      special_tokens=chat.get("special_tokens") or {})
    except TemplateError as exc:
        raise OpenAIError(400, f"The model's chat template refused these messages: {exc}", param="messages",
                          code="invalid_messages") from None
    return list(tokenizer.encode(text, add_special_tokens=False).ids)
