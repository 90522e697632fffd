"""Prove an ONNX file is safe to open and faithful to its source.

``check_and_signature`` is static (no onnxruntime session) and may run in the worker.
``parity`` and ``smoke_run`` open the model with onnxruntime and are meant to run inside
the sandbox, since that is the first time ORT parses vendor-derived bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import ValidationFailed
from .onnx_safety import check_onnx


def check_and_signature(onnx_path: str | Path, **caps: Any) -> dict[str, Any]:
    """onnx.checker + the safety checks + the KServe v2 signature of the model."""
    from inference.runtime.signature import signature_from_onnx

    model = check_onnx(onnx_path, **caps)
    try:
        signature = signature_from_onnx(model)
    except ValueError as exc:  # a type the v2 protocol cannot carry
        raise ValidationFailed(str(exc)) from exc
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"signature": signature, "opset": opset, "ir_version": model.ir_version,
            "producer": f"{model.producer_name} {model.producer_version}".strip()}  # fmt: skip


def open_session(
    onnx_path: str | Path, threads: int = 2, *, optimization: str | None = None
) -> Any:
    """``optimization``: None for onnxruntime's default, "off" for the graph as written,
    "extended" for what ``optimize`` writes as the served artifact."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if optimization is not None:
        options.graph_optimization_level = {
            "off": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        }[optimization]
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ValidationFailed(
            "onnxruntime could not load the model; re-export it with a supported opset",
            details={"reason": str(exc)[:1000]},
        ) from exc


def run(session: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    feed = {i.name: inputs[i.name] for i in session.get_inputs()}
    try:
        return dict(zip(names, session.run(names, feed), strict=True))
    except Exception as exc:
        raise ValidationFailed(
            "onnxruntime failed to run the model on the example inputs",
            details={"reason": str(exc)[:1000]},
        ) from exc


def compare(
    actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], *, atol: float, rtol: float
) -> dict[str, Any]:
    """Per-output max abs/rel error; passes when every element is within atol + rtol*|ref|."""
    outputs: dict[str, Any] = {}
    for name, ref in expected.items():
        got = actual.get(name)
        if got is None or got.shape != ref.shape:
            outputs[name] = {"passed": False, "shape": list(ref.shape),
                             "got_shape": None if got is None else list(got.shape)}  # fmt: skip
            continue
        ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
        diff = np.abs(got64 - ref64)
        finite = bool(np.isfinite(got64).all() == np.isfinite(ref64).all())
        outputs[name] = {
            "max_abs": float(diff.max(initial=0.0)),
            "max_rel": float((diff / np.maximum(np.abs(ref64), 1e-12)).max(initial=0.0)),
            "shape": list(ref.shape),
            "passed": finite and bool(np.allclose(got64, ref64, atol=atol, rtol=rtol,
                                                  equal_nan=True)),
        }  # fmt: skip
    max_abs = max((o.get("max_abs", float("inf")) for o in outputs.values()), default=0.0)
    return {
        "passed": all(o["passed"] for o in outputs.values()),
        "atol": atol,
        "rtol": rtol,
        "max_abs_error": max_abs,
        "outputs": outputs,
    }


def parity(
    onnx_path: str,
    inputs_npz: str,
    reference_npz: str,
    *,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    length_checks: list[list[str]] | None = None,
) -> dict[str, Any]:
    """Run the ONNX model on the example inputs and compare with the source model's outputs;
    then the same at the other input lengths the conversion recorded (``length_checks``)."""
    from .examples import load_npz

    session = open_session(onnx_path)
    actual = run(session, load_npz(inputs_npz))
    result = compare(actual, load_npz(reference_npz), atol=atol, rtol=rtol)
    lengths = []
    for inputs_path, reference_path in length_checks or []:
        inputs = load_npz(inputs_path)
        try:
            actual = run(session, inputs)
        except ValidationFailed as exc:  # e.g. a dimension the graph fixed after all
            actual, error = {}, exc.message
        else:
            error = None
        checked = compare(actual, load_npz(reference_path), atol=atol, rtol=rtol)
        worst = checked["max_abs_error"]
        lengths.append({"shapes": {n: list(a.shape) for n, a in inputs.items()},
                        "passed": checked["passed"], "error": error,
                        "max_abs_error": worst if np.isfinite(worst) else None})  # fmt: skip
    if lengths:
        result["lengths"] = lengths
        result["passed"] = result["passed"] and all(c["passed"] for c in lengths)
        worst = [c["max_abs_error"] for c in lengths if c["max_abs_error"] is not None]
        result["max_abs_error"] = max([result["max_abs_error"], *worst])
    return result


def smoke_run(
    onnx_path: str, inputs_npz: str | None = None, *, atol: float = 1e-4, rtol: float = 1e-3
) -> dict[str, Any]:
    """For ONNX uploads: load, run, outputs finite and shaped.

    There is no source model to compare with, so the only honest comparison is the one
    serving changes: the served artifact is the onnxruntime-optimised graph (``optimize``),
    and its outputs are compared with the graph as uploaded, optimisations off."""
    from inference.runtime.signature import signature_from_session

    from .examples import inputs_from_signature, load_npz

    uploaded = open_session(onnx_path, optimization="off")
    signature = signature_from_session(uploaded)
    inputs = load_npz(inputs_npz) if inputs_npz else inputs_from_signature(signature)
    outputs = run(uploaded, inputs)
    del uploaded  # one session at a time: big uploads would otherwise need twice the memory
    served = compare(run(open_session(onnx_path, optimization="extended"), inputs), outputs,
                     atol=atol, rtol=rtol)  # fmt: skip
    for out in served["outputs"].values():  # NaN/inf are not JSON the database accepts
        for key in ("max_abs", "max_rel"):
            if key in out and not np.isfinite(out[key]):
                out[key] = None
    finite = {k: bool(np.isfinite(v).all()) for k, v in outputs.items()
              if np.issubdtype(v.dtype, np.floating)}  # fmt: skip
    return {
        "passed": all(finite.values()) and served["passed"],
        "compared_with": "uploaded_graph",
        "atol": atol,
        "rtol": rtol,
        "max_abs_error": served["max_abs_error"] if np.isfinite(served["max_abs_error"]) else None,
        "outputs": {k: {**served["outputs"][k], "finite": finite.get(k, True)}
                    for k in outputs},  # fmt: skip
    }
