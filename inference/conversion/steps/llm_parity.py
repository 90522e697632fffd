"""Is the built language model the vendor's model? Greedy generation, token for token.

``generation_parity`` and ``int4_agreement`` run INSIDE the sandbox child (they load vendor
weights with transformers and open the built ONNX with ONNX Runtime GenAI). ``first_divergence``
is the plain comparison both the child and the tests use.

- fp32: for each of 8 fixed prompts, transformers ``generate(do_sample=False)`` and an
  ``og.Generator`` produce exactly ``NEW_TOKENS`` tokens each (end-of-sequence is held off with
  ``min_new_tokens`` / ``min_length``); every token must agree.
- int4: teacher-forced. Both variants read the fp32 reference continuation of each prompt; at
  each of the 8 x 32 positions we compare int4's top-1 token with the reference token (token
  agreement) and average |int4 logit - fp32 logit| over the vocabulary (mean abs logit diff).
  Free-running int4 output drifts after its first different token, so counting matches there
  would measure the drift, not the quantisation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROMPTS = [
    "The quick brown fox",
    "Hello world, this is",
    "Modelbay sells inference on",
    "Once upon a time there was a",
    "def fibonacci(n):",
    "The capital of France is",
    "1, 2, 3, 4,",
    "Vendors upload models; the platform converts them and",
]
NEW_TOKENS = 32
INT4_METHOD = (
    "teacher-forced over the fp32 greedy continuations (8 prompts x 32 tokens): token agreement is "
    "the share of positions where int4's top-1 token equals fp32's; the logit difference is the "
    "mean absolute difference over the whole vocabulary at those positions"
)


def first_divergence(reference: list[list[int]], candidate: list[list[int]]) -> dict[str, Any] | None:
    """The first (prompt, position) where ``candidate`` differs from ``reference``, or None.
    A missing token (one side shorter) counts as a difference, shown as None."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference sequences but {len(candidate)} candidates")
    for prompt, (expected, got) in enumerate(zip(reference, candidate, strict=True)):
        for position in range(max(len(expected), len(got))):
            want = expected[position] if position < len(expected) else None
            have = got[position] if position < len(got) else None
            if want != have:
                return {"prompt": prompt, "position": position, "expected": want, "got": have}
    return None


def generation_parity(source: str, built: str, new_tokens: int = NEW_TOKENS) -> dict[str, Any]:
    """Sandbox entry point: transformers on ``source`` vs ONNX Runtime GenAI on ``built``."""
    import onnxruntime_genai as og
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        source, use_safetensors=True, trust_remote_code=False, local_files_only=True, dtype=torch.float32,
    ).eval()  # fmt: skip
    # generate() fills every option left unset from the vendor's generation_config.json
    # (repetition penalties, banned n-grams ...); parity compares the models, so neither side
    # may bend the logits.
    model.generation_config = GenerationConfig()
    eos = stop_token_ids(built)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    prompts = [list(tokenizer(text).input_ids) for text in PROMPTS]
    reference = [_hf_greedy(model, ids, new_tokens, eos, pad) for ids in prompts]
    genai = og.Model(built)
    candidate = [_og_greedy(og, genai, ids, new_tokens) for ids in prompts]
    og_tokenizer = og.Tokenizer(genai)
    tokenizer_exact = all(list(og_tokenizer.encode(t)) == ids for t, ids in zip(PROMPTS, prompts, strict=True))
    divergence = first_divergence(reference, candidate)
    return {
        "exact": divergence is None,
        "first_divergence": divergence,
        "tokenizer_exact": tokenizer_exact,
        "parameters": sum(p.numel() for p in model.parameters()),
        "prompt_lengths": [len(ids) for ids in prompts],
        "sequences": [ids + ref for ids, ref in zip(prompts, reference, strict=True)],
    }


def int4_agreement(fp32_dir: str, int4_dir: str, sequences: list[list[int]],
                   prompt_lengths: list[int]) -> dict[str, Any]:  # fmt: skip
    """Sandbox entry point: teacher-forced comparison of the int4 variant with fp32."""
    import numpy as np
    import onnxruntime_genai as og

    fp32, int4 = og.Model(fp32_dir), og.Model(int4_dir)
    # End-of-sequence is suppressed while the reference was generated: compare the same choices.
    eos = stop_token_ids(fp32_dir)
    agree = positions = 0
    diff_total = 0.0
    for sequence, start in zip(sequences, prompt_lengths, strict=True):
        readers = [_teacher(og, m, sequence[:start]) for m in (fp32, int4)]
        for position in range(start, len(sequence)):
            ref_logits, q_logits = (r.get_logits()[0, -1].astype(np.float64) for r in readers)
            diff_total += float(np.abs(q_logits - ref_logits).mean())
            q_logits[eos] = -np.inf
            agree += int(int(np.argmax(q_logits)) == sequence[position])
            positions += 1
            if position + 1 < len(sequence):
                for reader in readers:
                    reader.append_tokens([sequence[position]])
    return {"token_agreement": round(agree / positions, 4), "mean_abs_logit_diff": round(diff_total / positions, 6),
            "positions": positions, "method": INT4_METHOD}  # fmt: skip


def stop_token_ids(built: str) -> list[int]:
    """The end-of-sequence ids ONNX Runtime GenAI stops on (genai_config.json of the build)."""
    model = json.loads((Path(built) / "genai_config.json").read_text())["model"]
    eos = model["eos_token_id"]
    return list(eos) if isinstance(eos, list) else [eos]


def _hf_greedy(model: Any, ids: list[int], new_tokens: int, eos: list[int], pad: int) -> list[int]:
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                              eos_token_id=eos, pad_token_id=pad, repetition_penalty=1.0)  # fmt: skip
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             generation_config=config)  # fmt: skip
    return [int(t) for t in out[0, len(ids):]]


def _og_greedy(og: Any, model: Any, ids: list[int], new_tokens: int) -> list[int]:
    params = og.GeneratorParams(model)
    params.set_search_options(do_sample=False, num_beams=1, repetition_penalty=1.0, no_repeat_ngram_size=0,
                              max_length=len(ids) + new_tokens, min_length=len(ids) + new_tokens)  # fmt: skip
    generator = og.Generator(model, params)
    generator.append_tokens(ids)
    tokens: list[int] = []
    while not generator.is_done():
        generator.generate_next_token()
        tokens.append(int(generator.get_next_tokens()[0]))
    return tokens


def _teacher(og: Any, model: Any, prompt: list[int]) -> Any:
    generator = og.Generator(model, og.GeneratorParams(model))
    generator.append_tokens(prompt)
    return generator
