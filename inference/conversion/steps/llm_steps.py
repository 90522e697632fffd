"""The language-model pipeline steps, for the Celery stages. Paths in, JSON-able dicts out.

Like ``pipeline_steps``: everything that opens vendor-derived bytes with torch, transformers or
ONNX Runtime GenAI runs in ``sandbox.run_sandboxed``; the worker only reads JSON and file
metadata, and does not trust what a child says about its own output (the folder is checked
here, the ONNX graph in a separate checking child).

Each precision is built into ``<workdir>/llm/<precision>/``, a folder ``og.Model`` opens as is.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Any

from .errors import ConversionFailed, ParityFailed
from .llm_build import INT4_SETTINGS, MODEL_FILE, verify_folder
from .llm_detect import read_json
from .llm_parity import PROMPTS
from .pipeline_steps import CHECK_LIMITS
from .safety import extract_zip
from .sandbox import Limits, run_sandboxed

OPTIONAL_SOURCE_FILES = ("generation_config.json",)


def variant_dir(workdir: str | Path, precision: str) -> Path:
    return Path(workdir).resolve() / "llm" / precision


def build_variant(scanned: dict, workdir: str | Path, precision: str, *, limits: Limits | None = None) -> dict:
    """Build one precision in a child, then check the folder and its graph."""
    work = Path(workdir).resolve()
    source = work / scanned["source"]
    out = variant_dir(work, precision)
    shutil.rmtree(out, ignore_errors=True)  # a redone stage starts from nothing
    out.mkdir(parents=True)
    built = run_sandboxed(
        "inference.conversion.steps.llm_build.build",
        {"source": str(source), "out_dir": str(out), "precision": precision},
        limits=limits, workdir=work / f"build-{precision}",
    )  # fmt: skip
    for name in OPTIONAL_SOURCE_FILES:  # serving reads the vendor's generation defaults too
        if (source / name).is_file():
            read_json(source / name, name)
            shutil.copyfile(source / name, out / name)
    facts = verify_folder(out, precision)
    checked = run_sandboxed("inference.conversion.steps.llm_build.check_onnx_file", {"onnx_path": str(out / MODEL_FILE)},
                            limits=CHECK_LIMITS, workdir=work / f"check-{precision}")  # fmt: skip
    if precision == "int4" and not any(op.endswith("::MatMulNBits") for op in checked["ops"]):
        raise ConversionFailed("the int4 build holds no 4-bit matrix multiplications; it would not be smaller")
    config = read_json(out / "tokenizer_config.json", "tokenizer_config.json")
    return {
        **facts,
        "folder": str(out.relative_to(work)),
        "parameters": int(built["parameters"]),
        "build_seconds": built.get("build_seconds"),
        "has_chat_template": bool(config.get("chat_template")) or (out / "chat_template.jinja").is_file(),
        "ops": checked["ops"],
        "settings": INT4_SETTINGS if precision == "int4" else {},
        "sandbox": built.get("sandbox", {}),
    }


def parity(scanned: dict, workdir: str | Path, *, limits: Limits | None = None) -> dict:
    """Token-exact greedy parity of the fp32 build; ``ParityFailed`` names the first divergence."""
    work = Path(workdir).resolve()
    result = run_sandboxed(
        "inference.conversion.steps.llm_parity.generation_parity",
        {"source": str(work / scanned["source"]), "built": str(variant_dir(work, "fp32"))},
        limits=limits, workdir=work / "parity",
    )  # fmt: skip
    divergence = result.get("first_divergence")
    if not result.get("exact") or divergence:
        prompt, position = int(divergence["prompt"]), int(divergence["position"])
        raise ParityFailed(
            f"the ONNX Runtime GenAI build does not generate what the original model generates: prompt "
            f"{prompt} ({PROMPTS[prompt]!r}) first differs at generated token {position} (both counted "
            f"from 0): transformers chose id {divergence['expected']}, the build chose {divergence['got']}",
            code="generation_parity_failed",
            details={"first_divergence": divergence, "prompt_text": PROMPTS[prompt]},
        )
    return result


def int4_agreement(workdir: str | Path, reference: dict, *, limits: Limits | None = None) -> dict:
    work = Path(workdir).resolve()
    result = run_sandboxed(
        "inference.conversion.steps.llm_parity.int4_agreement",
        {"fp32_dir": str(variant_dir(work, "fp32")), "int4_dir": str(variant_dir(work, "int4")),
         "sequences": reference["sequences"], "prompt_lengths": reference["prompt_lengths"]},
        limits=limits, workdir=work / "agreement",
    )  # fmt: skip
    agreement = float(result["token_agreement"])
    if not 0.0 <= agreement <= 1.0:
        raise ConversionFailed("the int4 comparison returned an impossible agreement rate")
    return {"token_agreement": agreement, "mean_abs_logit_diff": float(result["mean_abs_logit_diff"]),
            "positions": int(result["positions"]), "method": str(result["method"])}  # fmt: skip


def benchmark(workdir: str | Path, precisions: tuple[str, ...] = ("fp32", "int4"), *,
              limits: Limits | None = None) -> dict:  # fmt: skip
    work = Path(workdir).resolve()
    return run_sandboxed(
        "inference.conversion.steps.llm_card.benchmark",
        {"folders": {p: str(variant_dir(work, p)) for p in precisions}},
        limits=limits, workdir=work / "bench",
    )  # fmt: skip


def pack(folder: Path, zip_path: Path) -> Path:
    """One zip of a GenAI folder, names flat at its root (weights barely compress: stored)."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, path.name)
    return zip_path


def unpack(zip_path: Path, folder: Path) -> Path:
    """Our own artifact (authenticated when decrypted), still extracted through the safe path."""
    shutil.rmtree(folder, ignore_errors=True)
    extract_zip(zip_path, folder)
    return folder


def describe(built: dict[str, Any]) -> dict[str, Any]:
    """What the card keeps of a build (no paths, no sandbox internals)."""
    keep = ("precision", "size_bytes", "files", "build_seconds", "settings")
    return {k: built[k] for k in keep if k in built}
