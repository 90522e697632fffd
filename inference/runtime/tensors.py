"""Open Inference Protocol (KServe v2) tensor codec, framework-free.

Decodes request bodies (JSON, or JSON header + Triton binary tensor extension) into numpy
arrays, encodes responses the way `tritonclient.http` parses them, and packs arrays for the
JSON-only Celery hop. Checking inputs against a model signature is `signature.py`'s job.

Signature format (what `signature.py` speaks)::

    {"inputs":  [{"name": "x", "datatype": "FP32", "shape": [-1, 128]}, ...],
     "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 10]}, ...],
     "batched": true}   # optional: first axis of every input is one shared batch axis

Raw tensor bytes are little-endian, as the protocol specifies; like Triton we assume a
little-endian host and do not byte-swap.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Iterable, Mapping
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


# ---------------------------------------------------------------- decoding

def decode_request(
    body: bytes,
    header_length: int | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_elements_per_tensor: int = DEFAULT_MAX_ELEMENTS_PER_TENSOR,
    max_total_elements: int = DEFAULT_MAX_TOTAL_ELEMENTS,
) -> InferRequest:
    """Parse an infer request body; `header_length` is `Inference-Header-Content-Length`."""
    if len(body) > max_body_bytes:
        raise PayloadTooLarge(
            f"request body is {len(body)} bytes; the limit is {max_body_bytes} bytes"
        )
    view = memoryview(body)
    if header_length is None:
        header, binary = view, view[:0]
    else:
        if not 0 < header_length <= len(body):
            raise TensorError(
                f"Inference-Header-Content-Length is {header_length} but the body is "
                f"{len(body)} bytes"
            )
        header, binary = view[:header_length], view[header_length:]
    doc = _loads(header)
    if not isinstance(doc, dict):
        raise TensorError("request body must be a JSON object with an 'inputs' list")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise TensorError("request must have a non-empty 'inputs' list")
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise TensorError("request 'parameters' must be an object")

    inputs: dict[str, np.ndarray] = {}
    offset = total = 0
    for raw in raw_inputs:
        name, datatype, shape, count = _input_header(raw, max_elements_per_tensor)
        if name in inputs:
            raise TensorError(f"input '{name}' appears twice", input_name=name)
        total += count
        if total > max_total_elements:
            raise PayloadTooLarge(
                f"request carries more than {max_total_elements} tensor elements in total",
                input_name=name,
            )
        in_params = raw.get("parameters") or {}
        size = in_params.get("binary_data_size") if isinstance(in_params, dict) else None
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise TensorError(f"input '{name}': binary_data_size must be a non-negative integer",
                                  input_name=name)
            if offset + size > len(binary):
                raise TensorError(
                    f"input '{name}': binary_data_size {size} runs past the end of the body",
                    input_name=name,
                )
            inputs[name] = _binary_array(name, datatype, shape, count, binary[offset:offset + size])
            offset += size
        elif "data" in raw:
            inputs[name] = _json_array(name, datatype, shape, count, raw["data"])
        else:
            raise TensorError(f"input '{name}' has neither 'data' nor binary_data_size",
                              input_name=name)
    if offset != len(binary):
        raise TensorError(f"{len(binary) - offset} bytes of binary data were not claimed by any input")

    return InferRequest(
        inputs=inputs,
        id=doc.get("id") if isinstance(doc.get("id"), str) else None,
        parameters=params,
        outputs=_requested_outputs(doc.get("outputs")),
    )


def _loads(header: memoryview) -> Any:
    try:
        return json.loads(bytes(header))
    except RecursionError:
        # CPython's C decoder recurses per nesting level and stops at the recursion limit
        # after ~1000 levels, so a 10^6-deep body fails in microseconds with flat memory.
        raise TensorError("request JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise TensorError(f"request body is not valid JSON: {exc}") from None


def _input_header(raw: Any, max_elements: int) -> tuple[str, str, list[int], int]:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise TensorError("each input must be an object with a string 'name'")
    name = raw["name"]
    datatype = raw.get("datatype")
    if datatype not in V2_TO_NUMPY:
        raise TensorError(
            f"input '{name}': datatype {datatype!r} is not one of {', '.join(V2_TO_NUMPY)}",
            input_name=name,
        )
    shape = raw.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise TensorError(f"input '{name}': shape must be a list of non-negative integers",
                          input_name=name)
    count = math.prod(shape)  # Python ints: a declared 10^30 elements cannot overflow
    if count > max_elements:
        raise PayloadTooLarge(
            f"input '{name}' has {count} elements; the limit is {max_elements} per tensor",
            input_name=name,
        )
    return name, datatype, shape, count


def _binary_array(name: str, datatype: str, shape: list[int], count: int,
                  buf: memoryview) -> np.ndarray:
    if datatype == "BYTES":
        return deserialize_bytes(buf, count, name).reshape(shape)
    dtype = V2_TO_NUMPY[datatype]
    if len(buf) != count * dtype.itemsize:
        raise TensorError(
            f"input '{name}': binary_data_size is {len(buf)} bytes but {datatype} "
            f"{shape_str(shape)} needs {count * dtype.itemsize}",
            input_name=name,
        )
    array = np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)
    # Zero-copy view into the body; copy only when the offset left it misaligned.
    return array if array.flags.aligned else array.copy()


_INT_KINDS, _NUM_KINDS = frozenset("iu"), frozenset("iuf")


def _json_array(name: str, datatype: str, shape: list[int], count: int, data: Any) -> np.ndarray:
    expected = f"{count} elements for shape {shape_str(shape)}"
    if datatype == "BYTES":
        flat = _flatten_strings(name, data)
        if len(flat) != count:
            raise TensorError(f"input '{name}': got {len(flat)} elements, expected {expected}",
                              input_name=name)
        array = np.empty(count, dtype=object)
        array[:] = flat
        return array.reshape(shape)
    if not isinstance(data, list):
        data = [data]
    try:
        array = np.array(data)  # infer first so we can refuse "1.5" as INT64 or "abc" as FP32
    except (ValueError, TypeError):
        raise TensorError(
            f"input '{name}': data must be a flat or row-major nested list with {expected}",
            input_name=name,
        ) from None
    if array.size != count:
        raise TensorError(f"input '{name}': got {array.size} elements, expected {expected}",
                          input_name=name)
    target = V2_TO_NUMPY[datatype]
    kind = array.dtype.kind
    if count and not (
        (target.kind == "b" and kind == "b")
        or (target.kind in _INT_KINDS and kind in _INT_KINDS)
        or (target.kind == "f" and kind in _NUM_KINDS)
    ):
        wanted = "true/false" if target.kind == "b" else (
            "integers" if target.kind in _INT_KINDS else "numbers")
        raise TensorError(f"input '{name}': {datatype} data must be {wanted}", input_name=name)
    if count and target.kind in _INT_KINDS:
        info = np.iinfo(target)
        if array.min() < info.min or array.max() > info.max:
            raise TensorError(f"input '{name}': values out of range for {datatype}",
                              input_name=name)
    return array.astype(target, copy=False).reshape(shape)


def _flatten_strings(name: str, data: Any) -> list[bytes]:
    out: list[bytes] = []
    stack = [iter(data if isinstance(data, list) else [data])]
    while stack:  # iterative: nesting depth is already bounded by the JSON decoder
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            if not isinstance(item, str):
                raise TensorError(f"input '{name}': BYTES data must be strings", input_name=name)
            out.append(item.encode("utf-8"))
        else:
            stack.pop()
    return out


def deserialize_bytes(buf: memoryview | bytes, count: int, name: str = "") -> np.ndarray:
    """Triton's BYTES wire form: each element is a 4-byte little-endian length + its bytes."""
    out = np.empty(count, dtype=object)
    pos, end = 0, len(buf)
    for i in range(count):
        if pos + 4 > end:
            raise TensorError(f"input '{name}': BYTES data ends after {i} of {count} elements",
                              input_name=name)
        (length,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        if pos + length > end:
            raise TensorError(f"input '{name}': BYTES element {i} runs past its data",
                              input_name=name)
        out[i] = bytes(buf[pos:pos + length])
        pos += length
    if pos != end:
        raise TensorError(f"input '{name}': {end - pos} extra bytes after {count} BYTES elements",
                          input_name=name)
    return out


def serialize_bytes(array: np.ndarray) -> bytes:
    parts = []
    for item in array.ravel():
        b = item if isinstance(item, bytes) else str(item).encode("utf-8")
        parts.append(struct.pack("<I", len(b)))
        parts.append(b)
    return b"".join(parts)


def _requested_outputs(raw: Any) -> list[RequestedOutput]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise TensorError("request 'outputs' must be a list")
    outs = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise TensorError("each requested output must be an object with a string 'name'")
        params = item.get("parameters") or {}
        binary = params.get("binary_data") if isinstance(params, dict) else None
        outs.append(RequestedOutput(item["name"], None if binary is None else bool(binary)))
    return outs


# ---------------------------------------------------------------- encoding

def encode_response(
    model_name: str,
    model_version: str | None,
    outputs: Mapping[str, np.ndarray],
    *,
    request_id: str | None = None,
    binary_outputs: set[str] | bool = False,
) -> tuple[bytes, int | None]:
    """Build a v2 response body; the int is the `Inference-Header-Content-Length` value.

    When no output goes binary the body is plain JSON and the header length is None.
    """
    doc: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        doc["model_version"] = str(model_version)
    if request_id:
        doc["id"] = request_id
    blobs: list[bytes] = []
    out_docs = []
    for name, array in outputs.items():
        array = np.asarray(array)
        datatype = datatype_of(array)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        binary = binary_outputs if isinstance(binary_outputs, bool) else name in binary_outputs
        if not binary and datatype == "BYTES":
            try:
                entry["data"] = [_as_text(x) for x in array.ravel()]
            except UnicodeDecodeError:
                binary = True  # JSON cannot carry non-UTF-8 bytes; the binary form can
        elif not binary:
            entry["data"] = array.ravel().tolist()
        if binary:
            blob = serialize_bytes(array) if datatype == "BYTES" else _le_bytes(array)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        out_docs.append(entry)
    doc["outputs"] = out_docs
    header = json.dumps(doc, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def _as_text(item: Any) -> str:
    return item.decode("utf-8") if isinstance(item, bytes) else str(item)


def _le_bytes(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).tobytes()


# ---------------------------------------------------------------- Celery hop

def pack(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """JSON-safe form of named arrays for the broker: base64 of the raw bytes, no pickle."""
    tensors = []
    for name, array in arrays.items():
        array = np.asarray(array)
        datatype = datatype_of(array)
        raw = serialize_bytes(array) if datatype == "BYTES" else _le_bytes(array)
        tensors.append({
            "name": name,
            "datatype": datatype,
            "shape": list(array.shape),
            "b64": base64.b64encode(raw).decode("ascii"),
        })
    return {"tensors": tensors}


def unpack(packed: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Inverse of `pack`; sizes are re-checked so a corrupt message cannot mis-shape a tensor."""
    arrays: dict[str, np.ndarray] = {}
    for t in packed["tensors"]:
        shape = [int(d) for d in t["shape"]]
        raw = base64.b64decode(t["b64"])
        count = math.prod(shape)
        if t["datatype"] == "BYTES":
            arrays[t["name"]] = deserialize_bytes(raw, count, t["name"]).reshape(shape)
            continue
        dtype = V2_TO_NUMPY[t["datatype"]]
        if len(raw) != count * dtype.itemsize:
            raise TensorError(f"packed tensor '{t['name']}' has the wrong byte size",
                              input_name=t["name"])
        arrays[t["name"]] = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return arrays
