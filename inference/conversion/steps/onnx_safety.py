"""Static ONNX checks run before any onnxruntime session sees vendor bytes.

Order matters: the graph is parsed without external data, every external-data reference
and declared tensor size is checked, and only then does ``onnx.checker`` (which reads the
external files) run. A custom-op domain is refused, so no custom-op library is ever loaded.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from .errors import MalformedFile, OnnxUnsafe

ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})
# Kernels ONNX Runtime registers in the standard domain although onnx itself has no schema for
# them; ONNX Runtime GenAI's model builder emits this one for RMSNorm. onnx.checker would call
# the model invalid, so it checks a copy in which they are moved to com.microsoft.
ORT_ONNX_DOMAIN_OPS = frozenset({"SimplifiedLayerNormalization"})
MAX_TENSOR_ELEMENTS = 2**32  # 16 GiB of fp32 in one initializer is already absurd
MAX_TOTAL_ELEMENTS = 2**34

# Bytes per element; 4-bit types pack two per byte (handled by _nbytes).
_ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8,
             14: 8, 15: 16, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1, 21: 0.5, 22: 0.5, 23: 0.5,
             24: 1}  # fmt: skip
_STRING = 8


def check_onnx(
    onnx_path: str | Path,
    *,
    max_tensor_elements: int = MAX_TENSOR_ELEMENTS,
    max_total_elements: int = MAX_TOTAL_ELEMENTS,
    allowed_domains: frozenset[str] = ALLOWED_DOMAINS,
    full_check: bool = True,
    ort_onnx_domain_ops: frozenset[str] = frozenset(),
    infer_shapes_afresh: bool = False,
) -> Any:
    """Raise ``OnnxUnsafe``/``MalformedFile`` unless the model is safe to open; return the
    ``ModelProto`` (without external data loaded).

    ``infer_shapes_afresh`` lets the checker infer every intermediate shape itself instead of
    comparing against the file's ``value_info`` annotations (hints only; ONNX Runtime infers
    its own). The GenAI builder writes a few annotations of the wrong rank on constants.
    """
    import onnx

    onnx_path = Path(onnx_path)
    try:
        model = onnx.load_model(str(onnx_path), load_external_data=False)
    except Exception as exc:
        raise MalformedFile(
            "the ONNX file could not be parsed; export it again",
            details={"reason": str(exc)[:200]},
        ) from exc
    _check_domains(model, allowed_domains)
    total = 0
    for tensor in _all_tensors(model):
        total += _check_tensor(tensor, onnx_path.parent, max_tensor_elements)
        if total > max_total_elements:
            raise OnnxUnsafe(
                f"the model declares more than {max_total_elements:,} weight elements in total",
                details={"max_total_elements": max_total_elements},
            )
    try:
        # Path-based: works for >2 GiB models and reads external data only after our checks.
        with _checker_copy(model, onnx_path, ort_onnx_domain_ops, infer_shapes_afresh) as checked_path:
            onnx.checker.check_model(str(checked_path), full_check=full_check)
    except Exception as exc:
        raise OnnxUnsafe(
            "the ONNX model fails onnx.checker; re-export it with a current exporter",
            details={"reason": str(exc)[:500]},
        ) from exc
    return model


@contextmanager
def _checker_copy(model: Any, onnx_path: Path, ort_ops: frozenset[str], drop_value_info: bool) -> Iterator[Path]:
    """The file to give onnx.checker: the model itself, or a copy next to it (so relative
    external-data locations still resolve) with ``ort_ops`` nodes moved to com.microsoft, the
    domain the checker leaves to the runtime, and without value_info if asked."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    moved = [n for n in _walk_nodes(copy.graph.node) if n.domain in ("", "ai.onnx") and n.op_type in ort_ops]
    if not moved and not drop_value_info:
        yield onnx_path
        return
    if drop_value_info:
        for graph in _walk_graphs(copy.graph):
            del graph.value_info[:]
    for node in moved:
        node.domain = "com.microsoft"
    if not any(o.domain == "com.microsoft" for o in copy.opset_import):
        copy.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    target = onnx_path.with_name(f".checker-{uuid.uuid4().hex}.onnx")
    try:
        onnx.save_model(copy, str(target))
        yield target
    finally:
        target.unlink(missing_ok=True)


def _check_domains(model: Any, allowed: frozenset[str]) -> None:
    local = {(f.domain, f.name) for f in model.functions}
    # Only nodes matter: onnxruntime lists unused domains in opset_import of models it saves.
    node_lists = [model.graph.node, *(f.node for f in model.functions)]
    for nodes in node_lists:
        for node in _walk_nodes(nodes):
            if node.domain not in allowed and (node.domain, node.op_type) not in local:
                raise _bad_domain(node.domain, node.op_type)


def _bad_domain(domain: str, op: str | None = None) -> OnnxUnsafe:
    what = f"operator {domain}::{op}" if op else f"operator domain {domain!r}"
    return OnnxUnsafe(
        f"the model uses {what}; only standard ONNX operators (and com.microsoft contrib "
        "ops) are served, custom-op libraries are never loaded",
        details={"domain": domain, "op_type": op},
    )


def _walk_nodes(nodes: Any) -> Iterator[Any]:
    for node in nodes:
        yield node
        for attr in node.attribute:
            for graph in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _walk_nodes(graph.node)


def _walk_graphs(graph: Any) -> Iterator[Any]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _walk_graphs(sub)


def _all_tensors(model: Any) -> Iterator[Any]:
    node_lists = [f.node for f in model.functions]
    for graph in _walk_graphs(model.graph):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        node_lists.append(graph.node)
    for nodes in node_lists:
        for node in nodes:
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                yield from attr.tensors


def _check_tensor(tensor: Any, base: Path, cap: int) -> int:
    name = tensor.name or "<unnamed>"
    if any(d < 0 for d in tensor.dims):
        raise OnnxUnsafe(f"tensor {name!r} declares a negative dimension", details={"tensor": name})
    count = math.prod(tensor.dims)
    if count > cap:
        raise OnnxUnsafe(
            f"tensor {name!r} declares {count:,} elements, more than the limit of {cap:,}",
            details={"tensor": name, "elements": count, "max_tensor_elements": cap},
        )
    expected = _nbytes(tensor.data_type, count)
    if tensor.data_location == 1:  # EXTERNAL
        _check_external(tensor, base, expected)
    elif tensor.HasField("raw_data"):
        if expected is not None and len(tensor.raw_data) != expected:
            raise _inconsistent(name, expected, len(tensor.raw_data))
    elif tensor.data_type != _STRING:
        stored = sum(len(getattr(tensor, f)) for f in ("float_data", "int32_data", "int64_data",
                     "double_data", "uint64_data"))  # fmt: skip
        want = count * 2 if tensor.data_type in (14, 15) else count
        if tensor.data_type in (21, 22, 23):
            want = (count + 1) // 2
        if stored != want:
            raise _inconsistent(name, want, stored, unit="values")
    return count


def _nbytes(data_type: int, count: int) -> int | None:
    size = _ITEMSIZE.get(data_type)
    if size is None:
        return None  # strings and unknown types have no fixed size
    return math.ceil(count * size)


def _inconsistent(name: str, want: int, got: int, unit: str = "bytes") -> OnnxUnsafe:
    return OnnxUnsafe(
        f"tensor {name!r} declares {want:,} {unit} of data but holds {got:,}",
        details={"tensor": name, "declared": want, "stored": got},
    )


def _check_external(tensor: Any, base: Path, expected: int | None) -> None:
    info = {kv.key: kv.value for kv in tensor.external_data}
    name = tensor.name or "<unnamed>"
    location = info.get("location", "")
    parts = PurePosixPath(location.replace("\\", "/")).parts
    if (
        not location
        or "\x00" in location
        or location.startswith(("/", "\\"))
        or PureWindowsPath(location).drive
        or ".." in parts
    ):
        raise _bad_location(name, location)
    root = base.resolve()
    target = base / location
    resolved = target.resolve()
    if not resolved.is_relative_to(root) or any(
        (base / Path(*parts[: i + 1])).is_symlink() for i in range(len(parts))
    ):
        raise _bad_location(name, location)
    if not target.is_file():
        raise MalformedFile(
            f"external data file {location!r} for tensor {name!r} is missing; upload a zip "
            "with the .onnx and its data file together",
            details={"tensor": name, "location": location},
        )
    offset = int(info.get("offset", "0") or 0)
    length = int(info["length"]) if info.get("length") else None
    if length is not None and expected is not None and length != expected:
        raise _inconsistent(name, expected, length)
    need = offset + (length if length is not None else (expected or 0))
    if offset < 0 or need > os.path.getsize(target):
        raise _inconsistent(name, need, os.path.getsize(target))


def _bad_location(name: str, location: str) -> OnnxUnsafe:
    return OnnxUnsafe(
        f"tensor {name!r} points its external data at {location!r}; external data must be a "
        "plain relative file name next to the .onnx",
        details={"tensor": name, "location": location},
    )
