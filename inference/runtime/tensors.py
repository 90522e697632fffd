"""Open Inference Protocol (KServe v2) tensor codec, framework-free.

Decodes request bodies (JSON, or JSON header + Triton binary tensor extension) into numpy
arrays and encodes responses the way `tritonclient.http` parses them. The pieces:
`tensor_types` (datatypes, InferRequest, TensorError), `tensor_json` (JSON header and JSON
data), `tensor_binary` (binary extension and the worker hop's `pack`/`unpack`). This module
assembles whole requests and responses and is where callers import all of it from. Checking
inputs against a model signature is `signature.py`'s job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from inference.runtime.tensor_binary import (
    binary_array,
    deserialize_bytes,
    le_bytes,
    pack,
    serialize_bytes,
    unpack,
)
from inference.runtime.tensor_json import (
    as_text,
    input_header,
    json_array,
    json_data,
    loads_header,
    requested_outputs,
)
from inference.runtime.tensor_types import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_ELEMENTS_PER_TENSOR,
    DEFAULT_MAX_TOTAL_ELEMENTS,
    ONNX_TO_V2,
    V2_TO_NUMPY,
    V2_TO_ONNX,
    InferRequest,
    PayloadTooLarge,
    RequestedOutput,
    TensorError,
    datatype_of,
    shape_str,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_ELEMENTS_PER_TENSOR", "DEFAULT_MAX_TOTAL_ELEMENTS", "ONNX_TO_V2",
    "V2_TO_NUMPY", "V2_TO_ONNX", "InferRequest", "PayloadTooLarge", "RequestedOutput", "TensorError",
    "datatype_of", "decode_request", "deserialize_bytes", "encode_response", "pack", "serialize_bytes",
    "shape_str", "unpack",
]


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
    doc = loads_header(header)
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
        name, datatype, shape, count = input_header(raw, max_elements_per_tensor)
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
            inputs[name] = binary_array(name, datatype, shape, count, binary[offset:offset + size])
            offset += size
        elif "data" in raw:
            inputs[name] = json_array(name, datatype, shape, count, raw["data"])
        else:
            raise TensorError(f"input '{name}' has neither 'data' nor binary_data_size",
                              input_name=name)
    if offset != len(binary):
        raise TensorError(f"{len(binary) - offset} bytes of binary data were not claimed by any input")

    return InferRequest(
        inputs=inputs,
        id=doc.get("id") if isinstance(doc.get("id"), str) else None,
        parameters=params,
        outputs=requested_outputs(doc.get("outputs")),
    )


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
    fast = True
    for name, array in outputs.items():
        array = np.asarray(array)
        datatype = datatype_of(array)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        binary = binary_outputs if isinstance(binary_outputs, bool) else name in binary_outputs
        if not binary and datatype == "BYTES":
            try:
                entry["data"] = [as_text(x) for x in array.ravel()]
            except UnicodeDecodeError:
                binary = True  # JSON cannot carry non-UTF-8 bytes; the binary form can
        elif not binary:
            data = json_data(array)
            fast = fast and data is not None
            entry["data"] = array.ravel().tolist() if data is None else data
        if binary:
            blob = serialize_bytes(array) if datatype == "BYTES" else le_bytes(array)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        out_docs.append(entry)
    doc["outputs"] = out_docs
    # orjson for the common case; Python's json where a tensor holds NaN or infinities.
    header = (orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY) if fast
              else json.dumps(doc, separators=(",", ":"), default=np.ndarray.tolist).encode())
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)
