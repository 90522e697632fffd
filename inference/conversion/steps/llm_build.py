"""Build ONNX Runtime GenAI model folders from a Hugging Face causal LM, and check what came out.

``build`` and ``check_onnx_file`` run INSIDE the sandbox child: the model builder loads the
vendor's weights with torch (safetensors only: pickles were never unpacked) and transformers
(``trust_remote_code`` stays off, so no vendor Python runs). ``verify_folder`` runs in the
worker on the child's output, which is treated as untrusted: plain files with expected names,
a genai_config.json that loads no custom-op library and names a model file inside the folder.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from .errors import ConversionFailed, MalformedFile
from .llm_detect import read_json

PRECISIONS = ("fp32", "int4")
# The builder's int4 defaults on CPU, recorded on the card: symmetric RTN, 32-weight blocks,
# activations quantised to int8 inside MatMulNBits (accuracy level 4).
INT4_SETTINGS = {"algorithm": "rtn", "block_size": 32, "symmetric": True, "accuracy_level": 4}
MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
# What a GenAI folder may hold: the model, its config and the tokenizer files the builder copies.
ALLOWED_SUFFIXES = (".json", ".jinja", ".txt", ".model")


def build(source: str, out_dir: str, precision: str) -> dict[str, Any]:
    """Sandbox entry point: ``python -m onnxruntime_genai.models.builder -i source -o out_dir
    -p precision -e cpu``, through its Python API so failures arrive as exceptions."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}")
    started = time.perf_counter()  # imports included: torch and transformers are part of the cost
    from onnxruntime_genai.models import builder

    out = Path(out_dir)
    cache = out.parent / f".builder-cache-{precision}"
    options = ["hf_token=false", "hf_remote=false"]  # never the Hub, never repository code
    try:
        with contextlib.redirect_stdout(sys.stderr):  # its progress goes to the sandbox log
            parsed = builder.parse_extra_options(None, source, str(out), precision, "cpu", str(cache), options)
            builder.create_model(None, source, str(out), precision, "cpu", str(cache), **parsed)
    except Exception as exc:
        raise ConversionFailed(
            f"ONNX Runtime GenAI's model builder could not build the {precision} model: "
            f"{type(exc).__name__}: {str(exc)[:400]}",
            details={"precision": precision, "type": type(exc).__name__},
        ) from exc
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return {"precision": precision, "build_seconds": round(time.perf_counter() - started, 2),
            "parameters": count_parameters(source)}  # fmt: skip


def count_parameters(source: str) -> int:
    """Weights in the checkpoint, from the safetensors headers (tied weights are stored once)."""
    from safetensors import safe_open

    folder = Path(source)
    index = folder / "model.safetensors.index.json"
    files = sorted(set(read_json(index, index.name)["weight_map"].values())) if index.is_file() \
        else ["model.safetensors"]  # fmt: skip
    total = 0
    for name in files:
        with safe_open(str(folder / name), framework="numpy") as weights:
            total += sum(math.prod(weights.get_slice(key).get_shape()) for key in weights.keys())  # noqa: SIM118
    return total


def check_onnx_file(onnx_path: str) -> dict[str, Any]:
    """Sandbox entry point: SECURITY.md row 3 on the built graph, and which operators it uses."""
    from collections import Counter

    from .onnx_safety import ORT_ONNX_DOMAIN_OPS, check_onnx

    model = check_onnx(onnx_path, ort_onnx_domain_ops=ORT_ONNX_DOMAIN_OPS, infer_shapes_afresh=True)
    ops = Counter(f"{n.domain or 'ai.onnx'}::{n.op_type}" for n in model.graph.node)
    return {"ops": dict(sorted(ops.items())), "ir_version": model.ir_version,
            "inputs": [i.name for i in model.graph.input], "outputs": [o.name for o in model.graph.output]}


def verify_folder(folder: Path, precision: str) -> dict[str, Any]:
    """Check a built folder (in the worker, after the child) and return its facts."""
    entries = list(folder.iterdir())
    for path in entries:
        if path.is_symlink() or not path.is_file():
            raise ConversionFailed(f"the build left {path.name!r}, which is not a plain file")
        if path.name not in (MODEL_FILE, DATA_FILE) and not path.name.endswith(ALLOWED_SUFFIXES):
            raise ConversionFailed(f"the build left an unexpected file {path.name!r}",
                                   details={"file": path.name})  # fmt: skip
    config = read_json(folder / "genai_config.json", "genai_config.json")
    if _mentions(config, "custom_ops_library"):
        raise ConversionFailed("genai_config.json asks for a custom-op library; none is ever loaded")
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    decoder = model.get("decoder") if isinstance(model.get("decoder"), dict) else {}
    if decoder.get("filename") != MODEL_FILE or not (folder / MODEL_FILE).is_file():
        raise ConversionFailed("genai_config.json does not name the built model.onnx",
                               details={"filename": decoder.get("filename")})  # fmt: skip
    eos = model.get("eos_token_id")
    eos_ids = eos if isinstance(eos, list) else [eos]
    facts = {
        "precision": precision,
        "model_type": model.get("type"),
        "context_length": model.get("context_length"),
        "vocab_size": model.get("vocab_size"),
        "eos_token_ids": eos_ids,
        "size_bytes": sum(p.stat().st_size for p in entries),
        "files": sorted(p.name for p in entries),
    }
    numbers = [facts["context_length"], facts["vocab_size"], *eos_ids]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers) \
            or not facts["context_length"] or not facts["vocab_size"]:  # fmt: skip
        raise MalformedFile("genai_config.json lacks a valid context length, vocabulary size or EOS id",
                            details={k: facts[k] for k in ("context_length", "vocab_size", "eos_token_ids")})
    return facts


def _mentions(value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_mentions(v, key) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, key) for v in value)
    return False
