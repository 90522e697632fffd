"""Open Inference Protocol (KServe v2) tensor types, framework-free: the datatype tables, the
request the codecs produce, and the client-mistake error they raise.

Signature format (what `signature.py` speaks)::

    {"inputs":  [{"name": "x", "datatype": "FP32", "shape": [-1, 128]}, ...],
     "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 10]}, ...],
     "batched": true}   # optional: first axis of every input is one shared batch axis
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# v2 datatype -> numpy dtype. BYTES travels as an object array of `bytes`.
V2_TO_NUMPY: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
_NUMPY_TO_V2: dict[np.dtype, str] = {dt: name for name, dt in V2_TO_NUMPY.items()}

# ONNX TensorProto element types (stable protobuf enum values; hard-coded so the web process
# does not have to import onnx just to describe a signature).
ONNX_TO_V2: dict[int, str] = {
    1: "FP32", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
    8: "BYTES", 9: "BOOL", 10: "FP16", 11: "FP64", 12: "UINT32", 13: "UINT64",
}
V2_TO_ONNX: dict[str, int] = {v: k for k, v in ONNX_TO_V2.items()}

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_ELEMENTS_PER_TENSOR = 16 * 1024 * 1024
DEFAULT_MAX_TOTAL_ELEMENTS = 32 * 1024 * 1024


class TensorError(ValueError):
    """A client mistake in an inference payload; `status` is the HTTP status to answer with.

    The message names the input and what was expected and never echoes tensor values, so it is
    safe to return to the buyer and to log (buyer payloads must not reach logs).
    """

    status = 400

    def __init__(self, message: str, *, status: int | None = None, input_name: str | None = None):
        super().__init__(message)
        self.message = message
        self.input_name = input_name
        if status is not None:
            self.status = status

    def as_oip(self) -> dict[str, str]:
        """The error body the Open Inference Protocol specifies."""
        return {"error": self.message}


class PayloadTooLarge(TensorError):
    status = 413


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    name: str
    binary_data: bool | None = None  # None: follow the request-level binary_data_output


@dataclass(slots=True)
class InferRequest:
    inputs: dict[str, np.ndarray]
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    outputs: list[RequestedOutput] = field(default_factory=list)

    @property
    def binary_data_output(self) -> bool:
        return bool(self.parameters.get("binary_data_output", False))

    def output_names(self, available: Iterable[str]) -> list[str]:
        """Outputs to compute: the requested ones (checked against the model), else all."""
        available = list(available)
        if not self.outputs:
            return available
        known = set(available)
        for out in self.outputs:
            if out.name not in known:
                raise TensorError(
                    f"unknown output '{out.name}'; this model produces: {', '.join(available)}",
                    input_name=out.name,
                )
        return [out.name for out in self.outputs]

    def binary_outputs(self, names: Iterable[str]) -> set[str]:
        """Names to send as binary: per-output `binary_data` overrides `binary_data_output`."""
        default = self.binary_data_output
        explicit = {o.name: o.binary_data for o in self.outputs if o.binary_data is not None}
        return {n for n in names if explicit.get(n, default)}


def datatype_of(array: np.ndarray) -> str:
    """The v2 datatype of a numpy array (str/bytes arrays are BYTES)."""
    dt = array.dtype
    if dt.kind in "OSU":
        return "BYTES"
    try:
        return _NUMPY_TO_V2[dt.newbyteorder("=")]
    except KeyError:
        raise TensorError(f"numpy dtype {dt} has no Open Inference Protocol datatype") from None


def shape_str(shape: Iterable[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"
