"""Hugging Face `tokenizer.json` files shipped with a model, so buyers can send text.

`check` runs inside the sandbox the first time vendor bytes are parsed; `encode` runs in the
web process on a tokenizer that passed `check`. Only the `tokenizers` library is used (no
transformers, no torch, no remote code)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

# Signature input names a tokenizer can fill, and where each comes from in an Encoding.
TOKEN_INPUTS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
MAX_TEXT_CHARS = 20_000


def check(tokenizer_path: str) -> dict[str, Any]:
    """Parses the file and encodes a sample; raises if the tokenizer is unusable."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_path)
    sample = tokenizer.encode("Modelbay checks this tokenizer.")
    if not sample.ids:
        raise ValueError("the tokenizer produced no tokens for a sample sentence")
    return {"vocab_size": tokenizer.get_vocab_size(), "sample_tokens": len(sample.ids)}


MAX_TOKENS = 512


@lru_cache(maxsize=32)
def _load(tokenizer_json: str):
    """Configured once here (not per call): a cached Tokenizer is shared between threads."""
    from tokenizers import Tokenizer

    loaded = Tokenizer.from_str(tokenizer_json)
    loaded.no_padding()  # one text needs no padding; a shipped fixed padding would bill pad tokens
    loaded.enable_truncation(max_length=MAX_TOKENS)
    return loaded


def encode(tokenizer_json: str, text: str, *, wanted: list[str]) -> dict[str, np.ndarray]:
    """Encodes one text as a batch of 1, returning only the inputs the model declares."""
    if not text.strip():
        raise ValueError("Send some text to tokenize.")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"Text is limited to {MAX_TEXT_CHARS} characters.")
    encoding = _load(tokenizer_json).encode(text)
    return {name: np.asarray([getattr(encoding, TOKEN_INPUTS[name])], dtype=np.int64)
            for name in wanted if name in TOKEN_INPUTS}
