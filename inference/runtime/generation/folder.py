"""An ONNX Runtime GenAI model folder, opened with plain onnxruntime and ``tokenizers``.

``python -m onnxruntime_genai.models.builder`` writes genai_config.json, model.onnx (+ .data) and
the tokenizer files. Serving reads only those: no onnxruntime_genai, no transformers, no torch.
Input and output names come from genai_config.json (``%d`` patterns per layer), never from
guesses, so a family that names things differently or adds ``position_ids`` still loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# ONNX type strings (session metadata) -> numpy dtypes for the tensors the engine binds.
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
           "tensor(int32)": np.int32}  # fmt: skip
# genai_config decoder.session_options keys that map onto ort.SessionOptions attributes.
_SESSION_ATTRIBUTES = {"intra_op_num_threads", "inter_op_num_threads", "enable_cpu_mem_arena",
                       "enable_mem_pattern", "log_severity_level"}  # fmt: skip


@dataclass(frozen=True)
class ModelConfig:
    """The facts of genai_config.json the engine needs."""

    model_type: str
    layers: int
    attention_heads: int
    hidden_size: int
    kv_heads: int
    head_size: int
    vocab_size: int
    context_length: int
    eos_token_ids: tuple[int, ...]
    pad_token_id: int
    input_ids: str
    attention_mask: str
    position_ids: str | None
    past_keys: tuple[str, ...]
    past_values: tuple[str, ...]
    logits: str
    present_keys: tuple[str, ...]
    present_values: tuple[str, ...]
    session_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenaiFolder:
    """A loaded folder. ``tokenizer`` is shared: decode/encode from any thread, but do not
    reconfigure it (padding, truncation) since the engine decodes with it."""

    path: Path
    config: ModelConfig
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    dtypes: dict[str, Any]  # tensor name -> numpy dtype, for every input and output
    weights_bytes: int


def read_config(path: Path) -> ModelConfig:
    """Parse genai_config.json; raise ValueError naming what is missing or unsupported."""
    try:
        raw = json.loads((path / "genai_config.json").read_text())
        model, search = raw["model"], raw.get("search", {})
        decoder, inputs, outputs = model["decoder"], model["decoder"]["inputs"], model["decoder"]["outputs"]
        layers = int(decoder["num_hidden_layers"])
        eos = model["eos_token_id"]
        eos_ids = tuple(int(e) for e in (eos if isinstance(eos, list) else [eos]))
        names = {
            "past_keys": tuple(inputs["past_key_names"] % i for i in range(layers)),
            "past_values": tuple(inputs["past_value_names"] % i for i in range(layers)),
            "present_keys": tuple(outputs["present_key_names"] % i for i in range(layers)),
            "present_values": tuple(outputs["present_value_names"] % i for i in range(layers)),
        }
        config = ModelConfig(
            model_type=str(model.get("type", "")), layers=layers, kv_heads=int(decoder["num_key_value_heads"]),
            attention_heads=int(decoder["num_attention_heads"]), hidden_size=int(decoder["hidden_size"]),
            head_size=int(decoder["head_size"]), vocab_size=int(model["vocab_size"]),
            context_length=int(model["context_length"]), eos_token_ids=eos_ids,
            pad_token_id=int(model.get("pad_token_id", eos_ids[0])),
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
            position_ids=inputs.get("position_ids"), logits=outputs["logits"],
            session_options=dict(decoder.get("session_options") or {}), **names,
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}/genai_config.json is not a usable GenAI decoder config: {exc!r}") from exc
    # A separate present buffer would have to grow (be copied) every step; the builder's CPU
    # output always shares it, and the engine relies on in-place updates of one buffer per row.
    if not search.get("past_present_share_buffer", False):
        raise ValueError("the engine needs search.past_present_share_buffer = true in genai_config.json "
                         "(what the model builder writes for CPU); rebuild the model with the builder")
    if "custom_ops_library" in config.session_options:
        raise ValueError("genai_config.json asks for a custom-op library; none is ever loaded")
    return config


def session_options(config: ModelConfig, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    for key, value in config.session_options.items():
        if key in _SESSION_ATTRIBUTES:
            setattr(options, key, value)
        elif key == "log_id":
            options.logid = str(value)
    # provider_options are ignored on purpose: this engine runs on the CPU provider only.
    if threads is not None:
        if threads < 1:
            raise ValueError("threads must be at least 1 (or None for ONNX Runtime's default)")
        options.intra_op_num_threads = threads
    return options


def load_folder(path: str | Path, *, threads: int | None = None) -> GenaiFolder:
    """Open the folder: config, a CPU InferenceSession (``threads`` intra-op threads, None =
    onnxruntime's default of one per physical core) and the tokenizer from tokenizer.json."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    folder = Path(path)
    config = read_config(folder)
    raw = json.loads((folder / "genai_config.json").read_text())
    model_file = folder / raw["model"]["decoder"].get("filename", "model.onnx")
    session = ort.InferenceSession(str(model_file), session_options(config, threads),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    dtypes = {t.name: _DTYPES.get(t.type) for t in [*session.get_inputs(), *session.get_outputs()]}
    wanted = [config.input_ids, config.attention_mask, config.logits, *config.past_keys, *config.past_values,
              *config.present_keys, *config.present_values, *([config.position_ids] if config.position_ids else [])]
    missing = [name for name in wanted if name not in dtypes]
    if missing:
        raise ValueError(f"model.onnx lacks the tensors genai_config.json names: {missing}")
    unsupported = [name for name in wanted if dtypes[name] is None]
    if unsupported:
        raise ValueError(f"model.onnx uses tensor types the engine does not bind: {unsupported}")
    weights = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith(model_file.name))
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    return GenaiFolder(path=folder, config=config, session=session, tokenizer=tokenizer,
                       dtypes=dtypes, weights_bytes=weights)  # fmt: skip
