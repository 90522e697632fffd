"""The pipeline stages of a language model (ModelVersion.kind == "llm"), after a shared scan.

converting    build the fp32 ONNX Runtime GenAI folder (sandbox), check it, store it
validating    greedy parity, transformers vs GenAI: 8 prompts x 32 tokens, token for token
optimizing    build the int4 variant, check it, compare it teacher-forced with fp32, store it
benchmarking  time to first token and decode tokens/s at one stream, both variants

Each stage rebuilds its inputs from artifacts (the source upload, the stored variant zips) and
from `pipeline_state["llm_reference"]` (the fp32 reference sequences), so any stage can be redone
on another worker.

Storage contract of a ready LLM version (the serving side loads a variant with og.Model(folder)):
- `kind = "llm"`
- `onnx_artifact` / `onnx_sha256` / `onnx_size`: one encrypted zip (artifact_save) of the whole
  fp32 GenAI folder, file names flat at the zip root: genai_config.json, model.onnx,
  model.onnx.data, tokenizer.json, tokenizer_config.json, chat_template.jinja (when the build
  wrote one), generation_config.json (when the upload had one).
  `optimization["serving_layout"] = "genai_zip"`.
- `int4_artifact` / `int4_sha256` / `int4_size`: the same for the int4 build (offered, never
  substituted); `optimization["int4"]` holds its size, files and quantisation settings.
- `tokenizer_artifact`: the upload's tokenizer.json (as for any HF upload).
- `signature = {"kind": "llm", "architecture", "family", "context_length", "vocab_size",
  "eos_token_ids": [...], "has_chat_template", "parameters", "chat": {"template", "special_tokens"}}`
- `parity = {"kind": "generation", "passed", "prompts": 8, "new_tokens": 32,
  "fp32": {"exact", "first_divergence": None | {"prompt", "position", ...}, "tokenizer_exact"},
  "int4": {"token_agreement", "mean_abs_logit_diff", "positions", "method"}}`
- `benchmark = {"kind": "generation", "prompt_tokens": 128, "new_tokens", "runs",
  "variants": {"fp32": {"ttft_ms", "decode_tokens_per_s", "size_bytes", "precision"}, "int4": {...}}}`
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inference.conversion.stages import Outcome, _ensure_scanned, _org, limits
from inference.conversion.steps import llm_steps
from inference.conversion.steps.llm_detect import read_json
from inference.conversion.steps.llm_parity import NEW_TOKENS, PROMPTS
from inference.runtime.chat import chat_info
from marketplace.artifacts import artifact_export_to, artifact_save
from marketplace.models import ModelVersion

ARTIFACT_FIELDS = {"fp32": ("onnx_artifact", "onnx_sha256", "onnx_size"),
                   "int4": ("int4_artifact", "int4_sha256", "int4_size")}  # fmt: skip


def _ensure_variant(version: ModelVersion, work: Path, precision: str) -> Path:
    """The built folder of `precision`, unpacked from its artifact when this work dir is new."""
    folder = llm_steps.variant_dir(work, precision)
    if (folder / "genai_config.json").is_file():
        return folder
    bundle = work / f"{precision}.zip"
    name = getattr(version, ARTIFACT_FIELDS[precision][0])
    artifact_export_to(organization=_org(version), name=name, path=bundle)
    llm_steps.unpack(bundle, folder)
    bundle.unlink()
    return folder


def _store(version: ModelVersion, work: Path, precision: str) -> tuple[dict[str, Any], str]:
    bundle = llm_steps.pack(llm_steps.variant_dir(work, precision), work / f"{precision}.zip")
    saved = artifact_save(organization=_org(version), source=bundle, kind=precision)
    bundle.unlink()
    name, sha, size = ARTIFACT_FIELDS[precision]
    return {name: saved.name, sha: saved.sha256, size: saved.size}, saved.name


def _chat_info(folder: Path) -> dict[str, Any]:
    """The chat template and special tokens of the built folder (JSON and text: no code runs)."""
    template = folder / "chat_template.jinja"
    return chat_info(read_json(folder / "tokenizer_config.json", "tokenizer_config.json"),
                     template_file=template.read_text(encoding="utf-8") if template.is_file() else None)


def converting(version: ModelVersion, work: Path) -> Outcome:
    scanned = _ensure_scanned(version, work)
    built = llm_steps.build_variant(scanned, work, "fp32", limits=limits())
    fields, saved = _store(version, work, "fp32")
    llm = scanned["llm"]
    fields["signature"] = {
        "kind": "llm", "architecture": llm["architecture"], "family": llm["family"],
        "context_length": built["context_length"], "vocab_size": built["vocab_size"],
        "eos_token_ids": built["eos_token_ids"], "has_chat_template": built["has_chat_template"],
        "parameters": built["parameters"],
        # The web process renders prompts from these (inference/serving/v1/prompting.py).
        "chat": _chat_info(llm_steps.variant_dir(work, "fp32")),
    }  # fmt: skip
    fields["optimization"] = {"serving_layout": "genai_zip", "builder": "onnxruntime-genai",
                              "fp32": llm_steps.describe(built)}  # fmt: skip
    detail = {"builder": "onnxruntime-genai", "family": llm["family_name"], "precision": "fp32",
              "build_seconds": built["build_seconds"], "size_bytes": built["size_bytes"],
              "parameters": built["parameters"], "sandbox": built["sandbox"]}  # fmt: skip
    return Outcome(detail=detail, fields=fields, saved=[saved])


def validating(version: ModelVersion, work: Path) -> Outcome:
    scanned = _ensure_scanned(version, work)
    _ensure_variant(version, work, "fp32")
    result = llm_steps.parity(scanned, work, limits=limits())
    parity = {"kind": "generation", "passed": True, "prompts": len(PROMPTS), "new_tokens": NEW_TOKENS,
              "fp32": {"exact": True, "first_divergence": None, "tokenizer_exact": result["tokenizer_exact"]}}
    reference = {"sequences": result["sequences"], "prompt_lengths": result["prompt_lengths"]}
    return Outcome(detail={"kind": "generation", "passed": True, "prompts": len(PROMPTS), "new_tokens": NEW_TOKENS,
                           "tokenizer_exact": result["tokenizer_exact"], "sandbox": result.get("sandbox", {})},
                   fields={"parity": parity}, state={"llm_reference": reference})  # fmt: skip


def optimizing(version: ModelVersion, work: Path) -> Outcome:
    scanned = _ensure_scanned(version, work)
    _ensure_variant(version, work, "fp32")
    built = llm_steps.build_variant(scanned, work, "int4", limits=limits())
    agreement = llm_steps.int4_agreement(work, version.pipeline_state["llm_reference"], limits=limits())
    fields, saved = _store(version, work, "int4")
    fields["parity"] = {**version.parity, "int4": agreement}
    fields["optimization"] = {**version.optimization, "int4": llm_steps.describe(built)}
    detail = {"precision": "int4", "build_seconds": built["build_seconds"], "size_bytes": built["size_bytes"],
              "token_agreement": agreement["token_agreement"], "sandbox": built["sandbox"]}  # fmt: skip
    return Outcome(detail=detail, fields=fields, saved=[saved])


def benchmarking(version: ModelVersion, work: Path) -> Outcome:
    for precision in ("fp32", "int4"):
        _ensure_variant(version, work, precision)
    figures = llm_steps.benchmark(work, limits=limits())
    sandbox = figures.pop("sandbox", {})
    variants = {precision: {**figures["variants"][precision], "precision": precision,
                            "size_bytes": version.optimization[precision]["size_bytes"]}
                for precision in ("fp32", "int4")}  # fmt: skip
    benchmark = {"kind": "generation", "prompt_tokens": figures["prompt_tokens"],
                 "new_tokens": figures["new_tokens"], "runs": figures["runs"], "variants": variants}  # fmt: skip
    return Outcome(detail={"prompt_tokens": figures["prompt_tokens"], "sandbox": sandbox},
                   fields={"benchmark": benchmark})


RUNNERS = {"converting": converting, "validating": validating, "optimizing": optimizing,
           "benchmarking": benchmarking}  # fmt: skip
