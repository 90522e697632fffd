"""Serving artifacts: ORT offline graph optimisation and an optional dynamic INT8 variant.

Runs inside the sandbox (it opens the model with onnxruntime). The INT8 model is only ever
offered as an option with its measured accuracy delta, never substituted for the fp32 one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import ValidationFailed

LEVELS = ("basic", "extended")  # not "all": layout transforms tie the file to one CPU type
BIG_MODEL_BYTES = 1_500_000_000
OPTIMIZED_NAME = "model.opt.onnx"
INT8_NAME = "model.int8.onnx"


def optimize_graph(onnx_path: str, out_path: str, *, level: str = "extended") -> dict[str, Any]:
    """Write the ORT-optimised graph to ``out_path``; return its path and sizes."""
    import onnxruntime as ort

    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        if level == "extended"
        else ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    )
    options.optimized_model_filepath = out_path
    options.log_severity_level = 3
    if _model_bytes(onnx_path) > BIG_MODEL_BYTES:  # keep weights outside the 2 GiB protobuf
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name",
            Path(out_path).name + ".data",
        )
    try:
        ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ValidationFailed(
            "onnxruntime could not optimise the model", details={"reason": str(exc)[:1000]}
        ) from exc
    return {"optimized_path": out_path, "level": level, "size_bytes": _model_bytes(out_path),
            "source_size_bytes": _model_bytes(onnx_path)}  # fmt: skip


def quantize_int8(
    onnx_path: str, out_path: str, inputs_npz: str, *, min_matmuls: int = 1
) -> dict[str, Any] | None:
    """Dynamic INT8 variant for MatMul/Gemm-heavy (transformer-style) models, else None."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .examples import load_npz
    from .validate import compare, open_session, run

    model = onnx.load_model(onnx_path, load_external_data=False)
    matmuls = sum(n.op_type in ("MatMul", "Gemm") for n in model.graph.node)
    if matmuls < min_matmuls:
        return None
    quantize_dynamic(
        onnx_path, out_path, weight_type=QuantType.QInt8,
        use_external_data_format=_model_bytes(onnx_path) > BIG_MODEL_BYTES,
    )  # fmt: skip
    inputs = load_npz(inputs_npz)
    fp32 = run(open_session(onnx_path), inputs)
    int8 = run(open_session(out_path), inputs)
    delta = compare(int8, fp32, atol=float("inf"), rtol=0.0)
    return {
        "path": out_path,
        "size_bytes": _model_bytes(out_path),
        "fp32_size_bytes": _model_bytes(onnx_path),
        "max_abs_delta": delta["max_abs_error"],
        "outputs": {k: {"max_abs": v.get("max_abs"), "max_rel": v.get("max_rel")}
                    for k, v in delta["outputs"].items()},  # fmt: skip
    }


def optimize(
    onnx_path: str, workdir: str, inputs_npz: str, *, level: str = "extended",
    reference_npz: str | None = None, quantize: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Sandbox entry: optimised fp32 artifact (checked against the reference) + INT8 option."""
    from .examples import load_npz
    from .validate import compare, open_session, run

    work = Path(workdir)
    result = optimize_graph(onnx_path, str(work / OPTIMIZED_NAME), level=level)
    if reference_npz:
        got = run(open_session(result["optimized_path"]), load_npz(inputs_npz))
        result["parity"] = compare(got, load_npz(reference_npz), atol=1e-4, rtol=1e-3)
    result["int8"] = (
        quantize_int8(onnx_path, str(work / INT8_NAME), inputs_npz) if quantize else None
    )
    return result


def _model_bytes(path: str) -> int:
    """The .onnx plus any external-data files next to it."""
    p = Path(path)
    data = [f for f in p.parent.glob(p.name + "*.data")] + list(p.parent.glob(p.stem + ".data"))
    return os.path.getsize(p) + sum(os.path.getsize(f) for f in set(data) if f.is_file())
