"""Rewrite a single-file ONNX model so that its large weights sit in a data file beside it.

Why: ONNX Runtime parses a single-file model into a protobuf (one copy of the weights) and then
copies every initializer into tensors of its own (a second copy) before it frees the first, so
loading a 400 MB model peaks near 800 MB even from a path. Weights held in an external data file
are memory-mapped instead: the session needs no second copy, and the peak stays near one model.

The rewrite streams (protowalk): only the graph without its large weights is ever in memory. The
top-level graph's initializers whose `raw_data` is at least `min_bytes` are moved, each at an
offset aligned for mmap; everything else (nodes, small or typed-field tensors, subgraphs) is
copied byte for byte, so the model means exactly what it meant.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from . import protowalk
from .protowalk import FIXED32, FIXED64, LENGTH, VARINT, Field

MODEL_GRAPH = 7  # ModelProto.graph
GRAPH_INITIALIZER = 5  # GraphProto.initializer
TENSOR_RAW_DATA = 9  # TensorProto.raw_data
TENSOR_EXTERNAL_DATA = 13  # TensorProto.external_data (StringStringEntryProto: key 1, value 2)
TENSOR_DATA_LOCATION = 14  # TensorProto.data_location (1 = EXTERNAL)
ALIGNMENT = 64 * 1024  # ORT maps external data in place when the offset is page aligned
MIN_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ModelFile(os.PathLike):
    """An ONNX file on disk and the bytes it stands for: its own size plus its external data
    (what a session pool charges against its budget). Usable wherever a path is."""

    path: Path
    size: int

    def __fspath__(self) -> str:
        return str(self.path)


def externalize(source: Path, model_out: Path, data_out: Path, *, min_bytes: int = MIN_BYTES) -> int:
    """Write `source` as `model_out` + `data_out` (the data file must sit beside the model: the
    model names it by its file name). Returns the number of bytes moved to the data file."""
    if data_out.parent != model_out.parent:
        raise ValueError("the data file must be in the model's directory")
    with source.open("rb") as fh, _private(model_out) as out, _private(data_out) as data:
        for field in protowalk.fields(fh):
            if field.number == MODEL_GRAPH and field.wire == LENGTH:
                graph = _graph(fh, field.value, data, data_out.name, min_bytes)
                out.write(protowalk.encode_bytes_field(MODEL_GRAPH, graph))
            else:
                _copy_field(fh, out, field)
        moved = data.tell()
        data.truncate(moved)  # alignment padding is a seek; the last tensor ends the file
    return moved


def _graph(fh: IO[bytes], length: int, data: IO[bytes], data_name: str, min_bytes: int) -> bytes:
    out = io.BytesIO()
    for field in protowalk.fields(fh, length):
        if field.number == GRAPH_INITIALIZER and field.wire == LENGTH:
            out.write(protowalk.encode_bytes_field(
                GRAPH_INITIALIZER, _tensor(fh, field.value, data, data_name, min_bytes)))
        else:
            _copy_field(fh, out, field)
    return out.getvalue()


def _tensor(fh: IO[bytes], length: int, data: IO[bytes], data_name: str, min_bytes: int) -> bytes:
    out = io.BytesIO()
    moved: tuple[int, int] | None = None
    for field in protowalk.fields(fh, length):
        if (field.number == TENSOR_RAW_DATA and field.wire == LENGTH and field.value >= min_bytes
                and moved is None):
            offset = -(-data.tell() // ALIGNMENT) * ALIGNMENT
            data.seek(offset)
            protowalk.copy(fh, data, field.value)
            moved = (offset, field.value)
        else:
            _copy_field(fh, out, field)
    if moved is not None:
        # Appended last: protobuf keeps the last value of a scalar field, so a vendor's explicit
        # DEFAULT location cannot override ours.
        for key, value in (("location", data_name), ("offset", str(moved[0])), ("length", str(moved[1]))):
            entry = protowalk.encode_bytes_field(1, key.encode()) + protowalk.encode_bytes_field(2, value.encode())
            out.write(protowalk.encode_bytes_field(TENSOR_EXTERNAL_DATA, entry))
        out.write(protowalk.encode_varint(TENSOR_DATA_LOCATION << 3 | VARINT) + protowalk.encode_varint(1))
    return out.getvalue()


def _private(path: Path) -> IO[bytes]:
    """A new file only this user can read: it holds decrypted weights."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _copy_field(fh: IO[bytes], out: IO[bytes], field: Field) -> None:
    out.write(field.header)
    if field.wire in (LENGTH, FIXED32, FIXED64):
        protowalk.copy(fh, out, field.value)
