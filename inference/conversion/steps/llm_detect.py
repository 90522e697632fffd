"""Recognise a Hugging Face causal language model in an unpacked upload. JSON only: no torch.

An HF zip whose ``config.json`` names a ``*ForCausalLM`` architecture first is a language
model: it is built with ONNX Runtime GenAI's model builder (``llm_build``) rather than exported
as a tensor-in/tensor-out graph. The builder dispatches on ``architectures[0]`` too.

``SUPPORTED`` lists the families this platform builds, each verified here with token-exact
greedy parity (tests/runtime/test_llm_build.py, tests/e2e/test_llm_conversion.py). onnxruntime-
genai 0.18.0 builds more, but not all of them faithfully (OLMo, for one, builds and then
disagrees with transformers), so a family joins the list only with a passing parity test.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import MalformedFile, UnsupportedArchitecture, UnsupportedFormat

# architectures[0] -> (family id, name shown to vendors)
SUPPORTED: dict[str, tuple[str, str]] = {
    "LlamaForCausalLM": ("llama", "Llama"),
    "MistralForCausalLM": ("mistral", "Mistral"),
    "Qwen2ForCausalLM": ("qwen2", "Qwen2"),
    "Qwen3ForCausalLM": ("qwen3", "Qwen3"),
    "Phi3ForCausalLM": ("phi3", "Phi-3"),
    "GemmaForCausalLM": ("gemma", "Gemma"),
    "GraniteForCausalLM": ("granite", "Granite"),
    "SmolLM3ForCausalLM": ("smollm3", "SmolLM3"),
}
SUPPORTED_NAMES = ", ".join(name for _, name in SUPPORTED.values())
MAX_JSON_BYTES = 16 * 2**20  # a sharded index of a very large model stays far below this
REQUIRED_TOKENIZER = ("tokenizer.json", "tokenizer_config.json")


def read_json(path: Path, what: str) -> dict[str, Any]:
    """Parse a small vendor JSON file; refuse oversized or malformed ones in the vendor's words."""
    if path.stat().st_size > MAX_JSON_BYTES:
        raise MalformedFile(f"{what} is larger than {MAX_JSON_BYTES // 2**20} MiB; it cannot be a real {what}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedFile(f"{what} is not valid JSON; save it again with save_pretrained",
                            details={"reason": str(exc)[:200]}) from exc  # fmt: skip
    if not isinstance(data, dict):
        raise MalformedFile(f"{what} must hold a JSON object")
    return data


def causal_lm_architecture(config: dict[str, Any]) -> str | None:
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        return architectures[0] if architectures[0].endswith("ForCausalLM") else None
    return None


def recognise(folder: Path) -> dict[str, Any] | None:
    """None for other HF models; for a causal LM, the facts the pipeline needs, or an error
    that says what to change. ``folder`` holds config.json (the scan found it there)."""
    config = read_json(folder / "config.json", "config.json")
    architecture = causal_lm_architecture(config)
    if architecture is None:
        return None
    if architecture not in SUPPORTED:
        raise UnsupportedArchitecture(
            f"{architecture} is a causal language model of a family Modelbay cannot build yet; "
            f"supported families: {SUPPORTED_NAMES}. Upload a model of one of these families, "
            "or an ONNX export of it",
            details={"architecture": architecture, "supported": list(SUPPORTED)},
        )
    if config.get("quantization_config"):
        raise UnsupportedFormat(
            "this checkpoint is already quantized (config.json has quantization_config); upload the "
            "unquantized fp32, fp16 or bf16 weights: Modelbay builds the int4 variant itself",
            details={"architecture": architecture},
        )
    missing = [name for name in REQUIRED_TOKENIZER if not (folder / name).is_file()]
    if missing:
        raise MalformedFile(
            f"a language model needs its tokenizer, and {', '.join(missing)} is missing; save the "
            "tokenizer with tokenizer.save_pretrained(...) into the same folder as config.json",
            details={"missing": missing},
        )
    tokenizer_config = read_json(folder / "tokenizer_config.json", "tokenizer_config.json")
    family, family_name = SUPPORTED[architecture]
    return {
        "architecture": architecture,
        "family": family,
        "family_name": family_name,
        "shards": _weight_files(folder),
        "has_chat_template": bool(tokenizer_config.get("chat_template"))
        or (folder / "chat_template.jinja").is_file(),
    }


def _weight_files(folder: Path) -> list[str]:
    """The safetensors files the weights come from. A sharded index may only name plain
    .safetensors files that are in the folder: transformers opens whatever it names."""
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        return ["model.safetensors"]
    weight_map = read_json(index, "model.safetensors.index.json").get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise MalformedFile("model.safetensors.index.json has no weight_map; save the model again "
                            "with save_pretrained")  # fmt: skip
    shards = sorted({str(name) for name in weight_map.values()})
    for name in shards:
        if len(PurePosixPath(name).parts) != 1 or name in (".", "..") or not name.endswith(".safetensors"):
            raise MalformedFile(
                f"model.safetensors.index.json points at {name!r}; shards must be .safetensors files "
                "next to the index (save with save_pretrained(safe_serialization=True))",
                details={"shard": name},
            )
        if not (folder / name).is_file():
            raise MalformedFile(f"the shard {name} named in model.safetensors.index.json is missing from "
                                "the zip; include every shard", details={"shard": name})  # fmt: skip
    return shards
