"""The JSON side of the v2 tensor codec: the request header, each input's header, tensors sent
as JSON `data`, and the outputs a request asks for.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from inference.runtime.tensor_types import (
    V2_TO_NUMPY,
    PayloadTooLarge,
    RequestedOutput,
    TensorError,
    shape_str,
)


def loads_header(header: memoryview) -> Any:
    try:
        return json.loads(bytes(header))
    except RecursionError:
        # CPython's C decoder recurses per nesting level and stops at the recursion limit
        # after ~1000 levels, so a 10^6-deep body fails in microseconds with flat memory.
        raise TensorError("request JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise TensorError(f"request body is not valid JSON: {exc}") from None


def input_header(raw: Any, max_elements: int) -> tuple[str, str, list[int], int]:
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


_INT_KINDS, _NUM_KINDS = frozenset("iu"), frozenset("iuf")


def json_array(name: str, datatype: str, shape: list[int], count: int, data: Any) -> np.ndarray:
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


def requested_outputs(raw: Any) -> list[RequestedOutput]:
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


def as_text(item: Any) -> str:
    return item.decode("utf-8") if isinstance(item, bytes) else str(item)


def json_data(array: np.ndarray) -> np.ndarray | None:
    """A numeric output's `data` as the flat array itself, which orjson writes straight from its
    buffer (the response's largest cost in a profile of the web process, issue #14); None where
    orjson's numpy support stops: NaN and infinities, which it would write as null where Python's
    json (and tritonclient) use NaN/Infinity, and non-native byte order."""
    flat = np.ascontiguousarray(array.ravel())
    if not flat.dtype.isnative or (flat.dtype.kind == "f" and not np.isfinite(flat).all()):
        return None
    return flat
