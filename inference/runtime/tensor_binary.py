"""The binary side of the v2 tensor codec: Triton's binary tensor extension (raw little-endian
bytes after the JSON header; BYTES as 4-byte length + bytes per element) and the base64 form of
the same bytes that carries tensors over the JSON-only worker hop.

Like Triton we assume a little-endian host and do not byte-swap.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from inference.runtime.tensor_types import V2_TO_NUMPY, TensorError, datatype_of, shape_str


def binary_array(name: str, datatype: str, shape: list[int], count: int,
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


def le_bytes(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).tobytes()


# ---------------------------------------------------------------- worker hop

def pack(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """JSON-safe form of named arrays for the broker: base64 of the raw bytes, no pickle."""
    tensors = []
    for name, array in arrays.items():
        array = np.asarray(array)
        datatype = datatype_of(array)
        raw = serialize_bytes(array) if datatype == "BYTES" else le_bytes(array)
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
