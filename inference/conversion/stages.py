"""The work of each stage: decrypt what the stage needs into a private work dir, call the
runtime step (torch/ORT only inside its sandbox), store outputs as encrypted artifacts.

A stage can start in a fresh work dir (a redelivered task on another worker): every stage
rebuilds its inputs from artifacts (`_ensure_*`), so each one is resumable on its own.
Intermediate conversion output (ONNX + example inputs + reference outputs) travels between
stages as one "converted" zip artifact, deleted when the version is ready.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from inference.conversion.steps import pipeline_steps as steps
from inference.conversion.steps.errors import ModelCheckError
from inference.conversion.steps.sandbox import Limits, run_sandboxed
from marketplace.artifacts import artifact_export_to, artifact_save
from marketplace.models import ModelVersion


@dataclass
class Outcome:
    detail: dict[str, Any]
    fields: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False
    saved: list[str] = field(default_factory=list)  # artifacts to drop if the claim was lost


def limits() -> Limits:
    return Limits().but(
        wall_seconds=float(settings.MODELBAY_SANDBOX_WALL_SECONDS),
        cpu_seconds=settings.MODELBAY_SANDBOX_CPU_SECONDS,
        address_space_bytes=settings.MODELBAY_SANDBOX_MEMORY_BYTES,
    )


def _org(version: ModelVersion):
    return version.model.organization


def _ensure_scanned(version: ModelVersion, work: Path) -> dict:
    if "scanned" in version.pipeline_state and (work / "source").exists():
        return version.pipeline_state["scanned"]
    upload = work / "upload"
    if not upload.exists():
        artifact_export_to(organization=_org(version), name=version.source_artifact, path=upload)
    scanned = steps.scan(upload, work, steps.ScanCaps(
        max_entries=settings.MODELBAY_SCAN_MAX_ENTRIES, max_total_bytes=settings.MODELBAY_SCAN_MAX_TOTAL_BYTES,
        max_tensor_elements=settings.MODELBAY_SCAN_MAX_TENSOR_ELEMENTS))
    version.pipeline_state["scanned"] = scanned
    return scanned


def _examples(version: ModelVersion, work: Path) -> str | None:
    if not version.example_inputs_artifact:
        return None
    path = work / "vendor_inputs.npz"
    if not path.exists():
        artifact_export_to(organization=_org(version), name=version.example_inputs_artifact, path=path)
    return str(path)


def _ensure_converted(version: ModelVersion, work: Path) -> dict:
    scanned = _ensure_scanned(version, work)
    converted = version.pipeline_state["converted"]
    if not (work / converted["onnx_path"]).exists() and version.pipeline_state.get("converted_bundle"):
        bundle = work / "converted.zip"
        artifact_export_to(organization=_org(version), name=version.pipeline_state["converted_bundle"], path=bundle)
        with zipfile.ZipFile(bundle) as zf:  # our own bundle, authenticated by AES-GCM
            zf.extractall(work)
    del scanned
    return converted


def scanning(version: ModelVersion, work: Path) -> Outcome:
    scanned = _ensure_scanned(version, work)
    fields: dict[str, Any] = {"source_format": scanned["format"]}
    if "signature" in scanned:
        fields.update(signature=scanned["signature"], opset=scanned.get("opset"))
    files = scanned.get("files") or []
    detail = {"format": scanned["format"], "size_bytes": scanned["size_bytes"], "files": len(files)}
    if scanned.get("kind") == ModelVersion.Kind.LLM:  # the later stages take the language-model path
        fields["kind"] = ModelVersion.Kind.LLM
        detail.update(kind="llm", architecture=scanned["llm"]["architecture"], shards=len(scanned["llm"]["shards"]))
    saved = _attach_tokenizer(version, work, scanned, fields, detail)
    return Outcome(detail=detail, fields=fields, saved=saved,
                   state={"scanned": {k: v for k, v in scanned.items() if k != "files"}})


def _attach_tokenizer(version: ModelVersion, work: Path, scanned: dict, fields: dict, detail: dict) -> list[str]:
    """An HF upload's tokenizer.json lets buyers send text. It is parsed first in the sandbox;
    a broken one is reported and left out, it does not fail the version."""
    tokenizer = work / scanned.get("source", "source") / "tokenizer.json"
    if scanned["format"] != "hf_zip" or not tokenizer.is_file():
        return []
    try:
        checked = run_sandboxed("inference.runtime.tokenizer.check", {"tokenizer_path": str(tokenizer)},
                                limits=limits().but(wall_seconds=120.0, cpu_seconds=60), workdir=work / "tokenizer-check")
    except ModelCheckError as error:
        detail["tokenizer"] = {"attached": False, "reason": error.message}
        return []
    saved = artifact_save(organization=_org(version), source=tokenizer, kind="tokenizer")
    fields["tokenizer_artifact"] = saved.name
    detail["tokenizer"] = {"attached": True, "vocab_size": checked.get("vocab_size")}
    return [saved.name]


def converting(version: ModelVersion, work: Path) -> Outcome:
    scanned = _ensure_scanned(version, work)
    converted = steps.convert_in_sandbox(scanned, work, example_inputs_npz=_examples(version, work), limits=limits())
    sandbox = converted.pop("sandbox", {})
    if converted.get("exporter") is None:
        return Outcome(detail={"reason": "ONNX uploads need no conversion"}, skipped=True,
                       state={"converted": converted})
    bundle = work / "converted.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted((work / "onnx").iterdir()):
            if path.is_file():
                zf.write(path, f"onnx/{path.name}")
    saved = artifact_save(organization=_org(version), source=bundle, kind="converted")
    bundle.unlink()
    return Outcome(
        detail={"exporter": converted.get("exporter"), "export_seconds": converted.get("export_seconds"),
                "opset": converted.get("opset"), "sandbox": sandbox},
        fields={"signature": converted["signature"], "opset": converted.get("opset")},
        state={"converted": converted, "converted_bundle": saved.name}, saved=[saved.name],
    )


def validating(version: ModelVersion, work: Path) -> Outcome:
    converted = _ensure_converted(version, work)
    report = steps.validate_in_sandbox(converted, work, limits=limits())
    sandbox = report.pop("sandbox", {})
    return Outcome(detail={"kind": report["kind"], "passed": report.get("passed"),
                           "max_abs_error": report.get("max_abs_error"), "sandbox": sandbox},
                   fields={"parity": report})  # fmt: skip


def _save_onnx(version: ModelVersion, onnx_file: Path, kind: str) -> tuple[Any, str]:
    """A single .onnx as is; with external-data files next to it, one zip of all of them."""
    data = [p for p in onnx_file.parent.iterdir() if p.is_file() and p != onnx_file
            and p.name.startswith(onnx_file.stem) and p.suffix == ".data"]  # fmt: skip
    if not data:
        return artifact_save(organization=_org(version), source=onnx_file, kind=kind), "onnx"
    bundle = onnx_file.with_suffix(".zip")
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as zf:
        for p in [onnx_file, *data]:
            zf.write(p, p.name)
    return artifact_save(organization=_org(version), source=bundle, kind=kind), "onnx_zip"


def optimizing(version: ModelVersion, work: Path) -> Outcome:
    converted = _ensure_converted(version, work)
    result = steps.optimize(converted, work, limits=limits())
    sandbox = result.pop("sandbox", {})
    serving, layout = _save_onnx(version, work / result["optimized_path"], "onnx")
    fields: dict[str, Any] = {"onnx_artifact": serving.name, "onnx_sha256": serving.sha256, "onnx_size": serving.size}
    saved = [serving.name]
    int8 = result.get("int8")
    if int8:
        artifact, _ = _save_onnx(version, work / int8.pop("path"), "int8")
        int8["sha256"] = artifact.sha256
        fields.update(int8_artifact=artifact.name, int8_sha256=artifact.sha256)
        saved.append(artifact.name)
    report = {**result, "serving_layout": layout, "int8": int8}
    report.pop("optimized_path", None)
    fields["optimization"] = report
    return Outcome(detail={"level": result.get("level"), "size_bytes": result.get("size_bytes"),
                           "int8_offered": bool(int8), "sandbox": sandbox},
                   fields=fields, state={"optimized_path": result["optimized_path"]}, saved=saved)  # fmt: skip


def benchmarking(version: ModelVersion, work: Path) -> Outcome:
    converted = _ensure_converted(version, work)
    rel = version.pipeline_state.get("optimized_path", "optimized/model.opt.onnx")
    target = work / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        if version.optimization.get("serving_layout") == "onnx_zip":
            bundle = target.with_suffix(".zip")
            artifact_export_to(organization=_org(version), name=version.onnx_artifact, path=bundle)
            with zipfile.ZipFile(bundle) as zf:
                zf.extractall(target.parent)
        else:
            artifact_export_to(organization=_org(version), name=version.onnx_artifact, path=target)
    figures = steps.benchmark(converted, work, onnx_path=rel, limits=limits())
    sandbox = figures.pop("sandbox", {})
    return Outcome(detail={"batches": sorted(figures.get("batches", {})), "sandbox": sandbox},
                   fields={"benchmark": figures})
