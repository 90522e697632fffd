"""Model signatures in the v2 vocabulary, read from an ONNX Runtime session or an ONNX model.

Format (see tensors.py)::

    {"inputs": [{"name", "datatype", "shape": [-1, 128]}], "outputs": [...], "batched": bool}

`-1` is any size. `batched` is True when every input's first axis is dynamic and, where the
model names its dims, they share one name - only then is axis 0 a batch axis we may
concatenate along and check for consistency across inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from inference.runtime.tensors import (
    ONNX_TO_V2,
    V2_TO_NUMPY,
    TensorError,
    datatype_of,
    shape_str,
)

ORT_TO_V2: dict[str, str] = {
    "tensor(float)": "FP32", "tensor(float16)": "FP16", "tensor(double)": "FP64",
    "tensor(int8)": "INT8", "tensor(int16)": "INT16", "tensor(int32)": "INT32",
    "tensor(int64)": "INT64", "tensor(uint8)": "UINT8", "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32", "tensor(uint64)": "UINT64", "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}

Signature = dict[str, Any]


def signature_from_session(session: Any) -> Signature:
    """Signature of an `onnxruntime.InferenceSession` (types it cannot express become errors)."""
    inputs = [_spec(a.name, ORT_TO_V2.get(a.type), a.type, a.shape) for a in session.get_inputs()]
    outputs = [_spec(a.name, ORT_TO_V2.get(a.type), a.type, a.shape) for a in session.get_outputs()]
    return _finish(inputs, outputs, [a.shape for a in session.get_inputs()])


def signature_from_onnx(model: Any) -> Signature:
    """Signature of an ONNX model (`onnx.ModelProto`, bytes or path) without creating a session."""
    import onnx  # only the conversion side needs it; the inference worker uses the session

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load_model_from_string(model) if isinstance(model, bytes) else onnx.load(model)
    graph = model.graph
    initializers = {i.name for i in graph.initializer}  # old exporters list weights as inputs

    def read(values: Sequence[Any]) -> tuple[list[dict], list[list]]:
        specs, raw_shapes = [], []
        for v in values:
            if v.name in initializers:
                continue
            t = v.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                    for d in t.shape.dim]
            specs.append(_spec(v.name, ONNX_TO_V2.get(t.elem_type), str(t.elem_type), dims))
            raw_shapes.append(dims)
        return specs, raw_shapes

    inputs, in_shapes = read(graph.input)
    outputs, _ = read(graph.output)
    return _finish(inputs, outputs, in_shapes)


def _spec(name: str, datatype: str | None, raw_type: str, dims: Sequence[Any]) -> dict:
    if datatype is None:
        raise ValueError(f"tensor '{name}' has type {raw_type}, which the v2 protocol cannot carry")
    return {"name": name, "datatype": datatype,
            "shape": [d if isinstance(d, int) and d >= 0 else -1 for d in dims]}


def _finish(inputs: list[dict], outputs: list[dict], raw_in: list[Sequence[Any]]) -> Signature:
    firsts = [s[0] if s else 1 for s in raw_in]
    named = {d for d in firsts if isinstance(d, str)}
    batched = bool(firsts) and all(not isinstance(d, int) for d in firsts) and len(named) <= 1
    return {"inputs": inputs, "outputs": outputs, "batched": batched}


def example_inputs(signature: Mapping[str, Any], *, batch: int = 1,
                   dynamic: int = 1) -> dict[str, np.ndarray]:
    """Small valid-looking inputs for a warm-up run: dynamic dims become `batch` on axis 0 of
    batched models and `dynamic` elsewhere. Zeros keep index-like INT64 inputs in range."""
    out = {}
    for spec in signature["inputs"]:
        shape = [
            d if d >= 0 else (batch if i == 0 and signature.get("batched") else dynamic)
            for i, d in enumerate(spec["shape"])
        ]
        if spec["datatype"] == "BYTES":
            out[spec["name"]] = np.full(shape, "", dtype=object)
        else:
            out[spec["name"]] = np.zeros(shape, dtype=V2_TO_NUMPY[spec["datatype"]])
    return out


def validate_against_signature(inputs: Mapping[str, np.ndarray], signature: Mapping) -> None:
    """Refuse inputs that do not fit the model, naming the input and what it expects (400)."""
    specs = {spec["name"]: spec for spec in signature["inputs"]}
    for name in inputs:
        if name not in specs:
            raise TensorError(
                f"unexpected input '{name}'; this model takes: {_describe(specs.values())}",
                input_name=name,
            )
    for name, spec in specs.items():
        want = f"{spec['datatype']} {shape_str(spec['shape'])}"
        if name not in inputs:
            raise TensorError(f"missing input '{name}': expected {want}", input_name=name)
        array = inputs[name]
        got = datatype_of(array)
        if got != spec["datatype"]:
            raise TensorError(f"input '{name}' is {got}; expected {want}", input_name=name)
        dims = spec["shape"]
        if array.ndim != len(dims) or any(
            d >= 0 and d != n for d, n in zip(dims, array.shape, strict=True)
        ):
            raise TensorError(
                f"input '{name}' has shape {shape_str(array.shape)}; expected {want} "
                "(-1 means any size)",
                input_name=name,
            )
    if signature.get("batched", True):
        _check_batch_axis(inputs, specs)


def _check_batch_axis(inputs: Mapping[str, np.ndarray], specs: Mapping[str, Mapping]) -> None:
    batched = [n for n, s in specs.items() if s["shape"] and s["shape"][0] == -1]
    if len(batched) < 2:
        return
    rows = {n: inputs[n].shape[0] for n in batched}
    if len(set(rows.values())) > 1:
        detail = ", ".join(f"'{n}' has {r}" for n, r in rows.items())
        raise TensorError(
            f"inputs must share the batch size on their first axis: {detail}",
            input_name=batched[0],
        )


def _describe(specs: Iterable[Mapping]) -> str:
    return ", ".join(f"'{s['name']}' {s['datatype']} {shape_str(s['shape'])}" for s in specs)
