"""Greedy parity between transformers and ONNX Runtime GenAI: where generations part, the report
says which prompt and which generated token; an unfaithful build fails with exactly that."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from inference.conversion.steps import llm_build, llm_steps
from inference.conversion.steps.errors import ParityFailed
from inference.conversion.steps.llm_parity import (
    PROMPTS,
    _og_greedy,
    first_divergence,
    generation_parity,
    int4_agreement,
)
from tests.llm_models import build_causal_lm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_builds(tmp_path_factory) -> dict[str, Path]:
    """The tiny Llama's source folder with its fp32 and int4 GenAI builds (in process)."""
    root = tmp_path_factory.mktemp("llama")
    source = build_causal_lm("llama", root)
    folders = {"source": source}
    for precision in ("fp32", "int4"):
        llm_build.build(str(source), str(root / precision), precision)
        folders[precision] = root / precision
    return folders


def _greedy(folder: Path, prompts: list[list[int]], new_tokens: int = 32) -> list[list[int]]:
    import onnxruntime_genai as og

    model = og.Model(str(folder))
    return [_og_greedy(og, model, ids, new_tokens) for ids in prompts]


def _prompt_ids(source: Path) -> list[list[int]]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    return [tokenizer.encode(text).ids for text in PROMPTS]


def test_first_divergence_names_the_first_prompt_and_token_where_real_generations_part(llama_builds):
    """fp32 and int4 builds of one random-weight model agree for a while, then part ways."""
    prompts = _prompt_ids(llama_builds["source"])
    fp32, int4 = _greedy(llama_builds["fp32"], prompts), _greedy(llama_builds["int4"], prompts)
    assert first_divergence(fp32, _greedy(llama_builds["fp32"], prompts)) is None  # deterministic
    found = first_divergence(fp32, int4)
    assert found is not None, "int4 of random weights should not match fp32 on 256 tokens"
    prompt, position = found["prompt"], found["position"]
    assert fp32[:prompt] == int4[:prompt]  # every earlier prompt agreed in full
    assert fp32[prompt][:position] == int4[prompt][:position]  # and this one up to `position`
    assert (found["expected"], found["got"]) == (fp32[prompt][position], int4[prompt][position])
    assert found["expected"] != found["got"]


def test_a_generation_cut_short_diverges_where_its_tokens_run_out(llama_builds):
    prompts = _prompt_ids(llama_builds["source"])[:2]
    full = _greedy(llama_builds["fp32"], prompts)
    short = [full[0], full[1][:20]]  # as if the second stopped at an end-of-sequence token
    assert first_divergence(full, short) == {"prompt": 1, "position": 20, "expected": full[1][20], "got": None}
    with pytest.raises(ValueError):
        first_divergence(full, full[:1])


def test_a_build_of_different_weights_fails_parity_naming_prompt_and_position(llama_builds, tmp_path):
    """The build is of the seed-0 Llama; the 'upload' is a same-shaped Llama with other weights."""
    other = build_causal_lm("llama", tmp_path, seed=7)
    shutil.copytree(llama_builds["fp32"], llm_steps.variant_dir(tmp_path, "fp32"))
    with pytest.raises(ParityFailed) as caught:
        llm_steps.parity({"source": str(other.relative_to(tmp_path))}, tmp_path)
    divergence = caught.value.details["first_divergence"]
    assert caught.value.code == "generation_parity_failed"
    assert f"prompt {divergence['prompt']} ({PROMPTS[divergence['prompt']]!r})" in caught.value.message
    assert f"first differs at generated token {divergence['position']}" in caught.value.message


def test_int4_agreement_is_measured_teacher_forced_against_the_fp32_continuation(llama_builds):
    prompts = _prompt_ids(llama_builds["source"])
    fp32 = _greedy(llama_builds["fp32"], prompts)
    sequences = [p + g for p, g in zip(prompts, fp32, strict=True)]
    lengths = [len(p) for p in prompts]
    same = int4_agreement(str(llama_builds["fp32"]), str(llama_builds["fp32"]), sequences, lengths)
    assert same["token_agreement"] == 1.0 and same["mean_abs_logit_diff"] == 0.0  # fp32 against itself
    quantised = int4_agreement(str(llama_builds["fp32"]), str(llama_builds["int4"]), sequences, lengths)
    assert quantised["positions"] == len(PROMPTS) * 32
    assert 0.0 < quantised["token_agreement"] < 1.0 and quantised["mean_abs_logit_diff"] > 0.0
    assert "teacher-forced" in quantised["method"]


def test_the_vendors_generation_defaults_do_not_bend_the_comparison(tmp_path):
    """transformers' generate() fills unset options from generation_config.json; a repetition
    penalty and banned n-grams there would change its output but not the model's."""
    import torch
    from transformers import AutoModelForCausalLM

    source = build_causal_lm("llama", tmp_path)
    config = json.loads((source / "generation_config.json").read_text())
    config.update(repetition_penalty=1.5, no_repeat_ngram_size=2)
    (source / "generation_config.json").write_text(json.dumps(config))
    llm_build.build(str(source), str(tmp_path / "fp32"), "fp32")
    result = generation_parity(str(source), str(tmp_path / "fp32"))
    assert result["exact"], result["first_divergence"]
    model = AutoModelForCausalLM.from_pretrained(str(source)).eval()  # with the vendor's defaults
    bent = []
    for sequence, start in zip(result["sequences"], result["prompt_lengths"], strict=True):
        out = model.generate(torch.tensor([sequence[:start]]), max_new_tokens=32, min_new_tokens=32)
        bent.append(out[0, start:].tolist() != sequence[start:])
    assert any(bent)  # the defaults do bend generate(): left in, parity would have failed
