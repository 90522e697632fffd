"""Small random-weight causal language models, built locally (nothing is downloaded).

`make run` converts one as its demo chat model (tiny-chat); the LLM tests and
``bench/generation.py`` build the others (tests/llm_models.py):

    folder = build_causal_lm("llama", out_dir)               # a Hugging Face folder
    archive = zip_folder(folder, out_dir / "llama.zip")      # what a vendor uploads
    python -m marketplace.demo_lm llama out.zip              # the same, in its own process

Each folder holds what ``save_pretrained`` writes for a real checkpoint: config.json, weights as
safetensors (sharded on request, with model.safetensors.index.json), generation_config.json, and
a byte-level BPE tokenizer trained here with ``tokenizers`` whose tokenizer_config.json carries a
``chat_template``. Random weights make the text meaningless but greedy decoding deterministic,
which is what a token-exact parity check needs. Builds are deterministic for a given seed.

Plain Python: torch and transformers are imported inside the builder, which runs in its own
process (the web, inference and run processes never import torch).
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

BOS, EOS, PAD, UNK = "<|bos|>", "<|eos|>", "<|pad|>", "<|unk|>"
SPECIAL_TOKENS = [BOS, EOS, PAD, UNK]  # ids 0..3, in this order
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}"
    "{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512)  # fmt: skip
# family -> (config class, model class, family-specific config keywords)
FAMILIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", {}),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {"use_sliding_window": False}),
    # Phi-3 "mini" (no long-RoPE scaling) needs original == max position embeddings.
    "phi3": ("Phi3Config", "Phi3ForCausalLM", {"original_max_position_embeddings": 512}),
    "mistral": ("MistralConfig", "MistralForCausalLM", {"sliding_window": None}),
    # Not built by onnxruntime-genai 0.18.0: the unsupported-architecture case.
    "gpt_neox": ("GPTNeoXConfig", "GPTNeoXForCausalLM", {"rotary_pct": 1.0}),
    # The other supported families (inference/conversion/steps/llm_detect.py SUPPORTED).
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", {"head_dim": 16}),
    "gemma": ("GemmaConfig", "GemmaForCausalLM", {"head_dim": 16}),
    "granite": ("GraniteConfig", "GraniteForCausalLM", {}),
    "smollm3": ("SmolLM3Config", "SmolLM3ForCausalLM", {}),
}
# About 100M parameters (12 layers, hidden 768, an 8k vocabulary): for bench/generation.py only.
BENCH_100M = dict(hidden_size=768, intermediate_size=2560, num_hidden_layers=12, num_attention_heads=12,
                  num_key_value_heads=4, max_position_embeddings=2048)  # fmt: skip
_SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "zu", "qua", "sh", "ch", "th",
              "er", "an", "in", "on", "el", "or", "is", "at", "ul", "ex"]  # fmt: skip
_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world, this is a small corpus for training a tokenizer.",
    "Modelbay sells inference on language models to buyers who pay per token.",
    "Vendors upload models; the platform converts them and proves the conversion is faithful.",
]


def build_causal_lm(family: str, out_dir: Path, *, sharded: bool = False, size: str = "tiny",
                    seed: int | None = None) -> Path:  # fmt: skip
    """Write a Hugging Face folder for ``family`` (see FAMILIES) under ``out_dir``; return it.

    ``size="tiny"`` is 2 layers / hidden 64 / vocab 512 (tests); ``size="100m"`` is the Llama
    config of about 100M parameters used by the generation benchmark. Each family has its own
    default seed, so two families with the same layout (Llama, Mistral) still differ.
    """
    if size not in ("tiny", "100m"):
        raise ValueError("size is 'tiny' or '100m'")
    seed = list(FAMILIES).index(family) if seed is None else seed
    import torch
    import transformers

    config_name, model_name, extra = FAMILIES[family]
    shape, vocab = (TINY, 512) if size == "tiny" else (BENCH_100M, 8192)
    folder = Path(out_dir) / f"{family}-{size}-seed{seed}{'-sharded' if sharded else ''}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    tokenizer_vocab = _write_tokenizer(folder, vocab, context=shape["max_position_embeddings"])
    config = getattr(transformers, config_name)(
        vocab_size=tokenizer_vocab, bos_token_id=0, eos_token_id=1, pad_token_id=2,
        tie_word_embeddings=False, **shape, **extra,
    )  # fmt: skip
    config.architectures = [model_name]
    torch.manual_seed(seed)
    model = getattr(transformers, model_name)(config).eval()
    with torch.no_grad():  # default init is near zero: widen it so greedy choices are not ties
        for param in model.parameters():
            if param.dim() > 1:
                param.normal_(0.0, 0.08)
    model.generation_config = transformers.GenerationConfig(bos_token_id=0, eos_token_id=1, pad_token_id=2)
    model.save_pretrained(folder, max_shard_size="150KB" if sharded else "10GB")
    if not (folder / "generation_config.json").exists():
        model.generation_config.save_pretrained(folder)
    return folder


def zip_folder(folder: Path, zip_path: Path, *, prefix: str = "") -> Path:
    """Zip every file of ``folder`` (names relative to it, under ``prefix``)."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return Path(zip_path)


def _corpus(vocab: int) -> list[str]:
    """Enough distinct text for BPE to learn ``vocab`` tokens: real sentences plus seeded
    pseudo-words (a larger vocabulary needs more distinct merges)."""
    rng = random.Random(vocab)
    words = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(vocab * 4)]
    lines = [" ".join(rng.sample(words, 12)) for _ in range(vocab // 2)]
    return _SENTENCES * 20 + lines


def _write_tokenizer(folder: Path, vocab: int, *, context: int) -> int:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tokenizer.train_from_iterator(_corpus(vocab), trainer)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BOS, "eos_token": EOS,
              "pad_token": PAD, "unk_token": UNK, "model_max_length": context, "add_bos_token": False,
              "clean_up_tokenization_spaces": False, "chat_template": CHAT_TEMPLATE}  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return tokenizer.get_vocab_size()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in FAMILIES:
        print(f"usage: python -m marketplace.demo_lm {{{'|'.join(FAMILIES)}}} <out.zip>", file=sys.stderr)
        return 2
    family, zip_path = argv
    with tempfile.TemporaryDirectory(prefix="mb-demo-lm-") as tmp:
        zip_folder(build_causal_lm(family, Path(tmp)), Path(zip_path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
