"""Speed figures of a built language model for its card. Runs INSIDE the sandbox child.

One stream, as a buyer's single request sees it: a fixed 128-token prompt, then greedy decoding
of ``NEW_TOKENS`` tokens. Time to first token runs from creating the generator to the first
token in hand (prompt processing included); decode speed is the remaining tokens over their
time. Each variant gets one warm-up run, then the median of ``runs`` measured runs.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from .llm_parity import stop_token_ids

PROMPT_TOKENS = 128
NEW_TOKENS = 32
RUNS = 3


def benchmark(folders: dict[str, str], prompt_tokens: int = PROMPT_TOKENS, new_tokens: int = NEW_TOKENS,
              runs: int = RUNS) -> dict[str, Any]:  # fmt: skip
    """Sandbox entry point: ``folders`` maps precision -> built GenAI folder."""
    import onnxruntime_genai as og

    variants: dict[str, Any] = {}
    used_prompt = prompt_tokens
    for precision, folder in folders.items():
        model = og.Model(folder)
        context, vocab = _limits(folder)
        # A model with a short context still gets a card: the prompt shrinks to fit.
        used_prompt = min(prompt_tokens, context - new_tokens)
        prompt = _prompt(vocab, used_prompt, set(stop_token_ids(folder)))
        _run(og, model, prompt, new_tokens)  # warm-up: first-call allocations and kernel selection
        measured = [_run(og, model, prompt, new_tokens) for _ in range(runs)]
        variants[precision] = {
            "ttft_ms": round(statistics.median(m[0] for m in measured) * 1000, 3),
            "decode_tokens_per_s": round(statistics.median(m[1] for m in measured), 1),
        }
    return {"prompt_tokens": used_prompt, "new_tokens": new_tokens, "runs": runs, "variants": variants}


def _limits(folder: str) -> tuple[int, int]:
    import json
    from pathlib import Path

    model = json.loads((Path(folder) / "genai_config.json").read_text())["model"]
    return int(model["context_length"]), int(model["vocab_size"])


def _prompt(vocab: int, length: int, stop: set[int]) -> list[int]:
    """Deterministic token ids spread over the vocabulary, never an end-of-sequence id."""
    ids, step, token = [], 7919, 17  # a prime stride visits varied ids
    while len(ids) < length:
        token = (token + step) % vocab
        if token not in stop:
            ids.append(token)
    return ids


def _run(og: Any, model: Any, prompt: list[int], new_tokens: int) -> tuple[float, float]:
    """(seconds to the first token, decoded tokens per second after it)."""
    params = og.GeneratorParams(model)
    total = len(prompt) + new_tokens
    params.set_search_options(do_sample=False, max_length=total, min_length=total)
    started = time.perf_counter()
    generator = og.Generator(model, params)
    generator.append_tokens(prompt)
    generator.generate_next_token()
    generator.get_next_tokens()
    first = time.perf_counter()
    produced = 1
    while not generator.is_done():
        generator.generate_next_token()
        generator.get_next_tokens()
        produced += 1
    done = time.perf_counter()
    return first - started, (produced - 1) / max(done - first, 1e-9)
