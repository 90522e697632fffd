"""One call per pipeline stage, for the Celery tasks. Paths in, JSON-able dicts out.

Every stage raises ``ModelCheckError`` on failure. Paths in returned dicts are relative to
the version's ``workdir`` so the caller can store them on the ModelVersion row and move the
files to artifact storage. Stages that open vendor-derived bytes with torch or onnxruntime
run in ``sandbox.run_sandboxed``; the rest (sniffing, zip and static ONNX checks) are plain
parsing and run in the caller.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .convert import INPUTS_NAME, ONNX_NAME, REFERENCE_NAME
from .errors import MalformedFile, ParityFailed, ValidationFailed
from .formats import ZIP_MAGICS, SourceFormat, hf_root, is_pickle, is_safetensors, sniff
from .length_checks import COUNT as LENGTH_CHECKS
from .length_checks import check_files
from .llm_detect import recognise as recognise_llm
from .optimize import INT8_NAME, OPTIMIZED_NAME
from .safety import MAX_ENTRIES, MAX_TOTAL_BYTES, check_zip, extract_zip
from .sandbox import Limits, run_sandboxed

# No torch in the checking child: a few GiB of address space is plenty.
CHECK_LIMITS = Limits(address_space_bytes=8 * 2**30, cpu_seconds=300, wall_seconds=600)
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".h5", ".msgpack", ".py")


@dataclass(frozen=True)
class ScanCaps:
    max_entries: int = MAX_ENTRIES
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_tensor_elements: int = 2**32


def scan(upload_path: str | Path, workdir: str | Path, caps: ScanCaps | None = None) -> dict:
    """Sniff, check and unpack the upload into ``workdir/source``. Nothing is loaded."""
    caps = caps or ScanCaps()
    upload, work = Path(upload_path), Path(workdir)
    source = work / "source"
    source.mkdir(parents=True, exist_ok=True)
    zip_caps = {"max_entries": caps.max_entries, "max_total_bytes": caps.max_total_bytes}
    with upload.open("rb") as fh:
        if fh.read(4) in ZIP_MAGICS:  # caps before anything walks the member list
            check_zip(upload, **zip_caps)
    fmt = sniff(upload)
    result: dict[str, Any] = {"format": fmt.value, "size_bytes": upload.stat().st_size}
    if fmt in (SourceFormat.TORCHSCRIPT, SourceFormat.TORCH_EXPORT):
        check_zip(upload, **zip_caps)  # torch reads these zips itself, inside the sandbox
        name = "model.pt2" if fmt is SourceFormat.TORCH_EXPORT else "model.torchscript"
        shutil.copyfile(upload, source / name)
        result["source"] = f"source/{name}"
    elif fmt is SourceFormat.HF_ZIP:
        # Weights load from safetensors only; pickled siblings are not even unpacked.
        written = extract_zip(upload, source, **zip_caps, keep=_not_pickle)
        result["source"] = str(PurePosixPath("source", hf_root(written) or ""))
        _check_safetensors(source, written)
        result["files"] = written
        llm = recognise_llm(work / result["source"])  # a causal LM is built, not exported
        if llm is not None:
            result.update(kind="llm", llm=llm)
    else:
        if fmt is SourceFormat.ONNX:
            shutil.copyfile(upload, source / "model.onnx")
            onnx_rel = "source/model.onnx"
        else:
            written = extract_zip(upload, source, **zip_caps)
            onnx_rel = "source/" + next(n for n in written if n.lower().endswith(".onnx"))
            result["files"] = written
        result["source"] = onnx_rel
        checked = checked_onnx(work / onnx_rel, work, max_tensor_elements=caps.max_tensor_elements)
        checked.pop("sandbox", None)
        result.update(checked)
    return result


def convert_in_sandbox(
    scanned: dict, workdir: str | Path, *, example_inputs_npz: str | None = None,
    limits: Limits | None = None,
) -> dict:  # fmt: skip
    """Torch/HF sources -> ONNX in a child; ONNX uploads pass through unchanged."""
    work = Path(workdir).resolve()
    if scanned["format"] in (SourceFormat.ONNX, SourceFormat.ONNX_ZIP):
        return {"onnx_path": scanned["source"], "exporter": None, "signature": scanned["signature"],
                "opset": scanned.get("opset"), "example_inputs": None, "reference_outputs": None}
    out = work / "onnx"
    out.mkdir(exist_ok=True)
    result = run_sandboxed(
        "inference.conversion.steps.convert.convert",
        {"source": str(work / scanned["source"]), "fmt": scanned["format"],
         "workdir": str(out), "example_inputs_npz": example_inputs_npz},
        limits=limits, workdir=out,
    )  # fmt: skip
    # Paths come from our constants, not from the child's answer (it ran vendor code).
    result.update(onnx_path=f"onnx/{ONNX_NAME}", example_inputs=f"onnx/{INPUTS_NAME}",
                  reference_outputs=f"onnx/{REFERENCE_NAME}")  # fmt: skip
    checks = [check_files(i) for i in range(1, LENGTH_CHECKS + 1)]
    result["length_checks"] = [[f"onnx/{a}", f"onnx/{b}"] for a, b in checks
                               if (out / a).is_file() and (out / b).is_file()]  # fmt: skip
    # The child is not trusted to describe its own output: re-check and re-read it here.
    checked = checked_onnx(work / result["onnx_path"], work)
    result["signature"] = checked["signature"]
    result["opset"] = checked["opset"]
    return result


def validate_in_sandbox(
    converted: dict, workdir: str | Path, *, atol: float = 1e-4, rtol: float = 1e-3,
    limits: Limits | None = None,
) -> dict:  # fmt: skip
    """Parity against the source outputs, or a load-and-run check for ONNX uploads."""
    work = Path(workdir).resolve()
    onnx_path = str(work / converted["onnx_path"])
    if converted.get("reference_outputs"):
        result = run_sandboxed(
            "inference.conversion.steps.validate.parity",
            {"onnx_path": onnx_path, "inputs_npz": str(work / converted["example_inputs"]),
             "reference_npz": str(work / converted["reference_outputs"]),
             "length_checks": [[str(work / p) for p in pair]
                               for pair in converted.get("length_checks") or []],
             "atol": atol, "rtol": rtol},
            limits=limits, workdir=work / "validate",
        )  # fmt: skip
        if not result["passed"]:
            raise ParityFailed(parity_failure(result, atol), details=result)
        return {"kind": "parity", **result}
    result = run_sandboxed(
        "inference.conversion.steps.validate.smoke_run",
        {"onnx_path": onnx_path, "atol": atol, "rtol": rtol},
        limits=limits, workdir=work / "validate",
    )  # fmt: skip
    if not result["passed"]:
        raise ValidationFailed(smoke_failure(result), details=result)
    return {"kind": "smoke_run", **result}


def parity_failure(result: dict, atol: float) -> str:
    """Say at which input shapes the ONNX model stops matching its source."""
    failed = [c for c in result.get("lengths") or [] if not c["passed"]]
    if failed and all(o["passed"] for o in result["outputs"].values()):
        shapes = "; ".join(", ".join(f"{n} {s}" for n, s in c["shapes"].items()) for c in failed)
        return (f"the ONNX outputs match the source model on the example inputs but not at other "
                f"input lengths ({shapes}): the exported graph holds something specific to the example's "
                "length; upload an .onnx you exported and checked at several lengths")  # fmt: skip
    return (f"the ONNX outputs differ from the source model (max abs error "
            f"{result['max_abs_error']:.3g} > {atol:g}); the conversion is not faithful")


def smoke_failure(result: dict) -> str:
    if not all(o.get("finite", True) for o in result["outputs"].values()):
        return "the model produced NaN or infinite outputs"
    worst = result["max_abs_error"]
    how = "to NaN or infinity" if worst is None else f"by up to {worst:.3g}"
    return (f"onnxruntime's graph optimisations change this model's outputs {how}, so the served "
            "graph would not match the uploaded one; re-export the model with a recent exporter and "
            "upload it again, or contact support with this version's id")


def optimize(
    converted: dict, workdir: str | Path, *, level: str = "extended", quantize: bool = True,
    limits: Limits | None = None,
) -> dict:  # fmt: skip
    work = Path(workdir).resolve()
    out = work / "optimized"
    inputs = converted.get("example_inputs") or _generated_inputs(converted, out)
    result = run_sandboxed(
        "inference.conversion.steps.optimize.optimize",
        {"onnx_path": str(work / converted["onnx_path"]), "workdir": str(out),
         "inputs_npz": str(work / inputs) if converted.get("example_inputs") else inputs,
         "level": level, "quantize": quantize,
         "reference_npz": str(work / converted["reference_outputs"])
         if converted.get("reference_outputs") else None},
        limits=limits, workdir=out,
    )  # fmt: skip
    checked_onnx(out / OPTIMIZED_NAME, work)  # fused ops must still be allow-listed
    result["optimized_path"] = f"optimized/{OPTIMIZED_NAME}"
    if result.get("int8"):
        checked_onnx(out / INT8_NAME, work)
        result["int8"]["path"] = f"optimized/{INT8_NAME}"
    return result


def benchmark(
    converted: dict, workdir: str | Path, *, onnx_path: str | None = None,
    batch_sizes: tuple[int, ...] = (1, 8), runs: int = 20, limits: Limits | None = None,
) -> dict:  # fmt: skip
    work = Path(workdir).resolve()
    inputs = converted.get("example_inputs")
    return run_sandboxed(
        "inference.conversion.steps.profile.benchmark",
        {"onnx_path": str(work / (onnx_path or converted["onnx_path"])),
         "signature": converted["signature"], "batch_sizes": list(batch_sizes), "runs": runs,
         "inputs_npz": str(work / inputs) if inputs else None},
        limits=limits, workdir=work / "bench",
    )  # fmt: skip


def checked_onnx(onnx_path: Path, workdir: Path, **caps: Any) -> dict:
    """``validate.check_and_signature`` in a child: onnx's C++ checker and shape inference
    parse vendor bytes too, and a crash there must not take the worker down."""
    return run_sandboxed(
        "inference.conversion.steps.validate.check_and_signature",
        {"onnx_path": str(Path(onnx_path).resolve()), **caps},
        limits=CHECK_LIMITS, workdir=Path(workdir).resolve() / "check",
    )


def default_limits() -> dict:
    return asdict(Limits())


def _check_safetensors(folder: Path, names: list[str]) -> None:
    """A pickle renamed model.safetensors is refused here, by content (SECURITY.md row 2)."""
    for name in names:
        if name.endswith(".safetensors"):
            path = folder / name
            with path.open("rb") as fh:
                head = fh.read(16)
            if not is_safetensors(head, path.stat().st_size):
                raise MalformedFile(
                    f"{name} is not a safetensors file; save the model with "
                    "save_pretrained(safe_serialization=True)",
                    details={"member": name, "pickle": is_pickle(head)},
                )


def _not_pickle(name: str) -> bool:
    return not name.lower().endswith(_PICKLE_SUFFIXES)


def _generated_inputs(converted: dict, out: Path) -> str:
    from .examples import inputs_from_signature, save_npz

    out.mkdir(parents=True, exist_ok=True)
    path = out / "generated_inputs.npz"
    save_npz(path, inputs_from_signature(converted["signature"]))
    return str(path)
