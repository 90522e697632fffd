"""Walk a protobuf message's fields from a file without loading it.

An ONNX model with its weights inside is one protobuf of up to 2 GiB; `onnx.load` would hold all
of it in memory. The checks that run in the web and worker processes (is this ONNX at all, where
is its metadata) only need the field boundaries: a field's tag and length are read, its payload
is skipped (or copied through), so memory stays flat whatever the file's size.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
_FIXED = {FIXED64: 8, FIXED32: 4}
COPY_CHUNK = 1024 * 1024


class ProtoMalformed(ValueError):
    """The bytes are not a well-formed sequence of protobuf fields."""


@dataclass(frozen=True)
class Field:
    number: int
    wire: int
    value: int  # the varint's value, or the payload length of LENGTH / FIXED fields
    header: bytes  # the tag (and length) bytes exactly as read, so a field can be copied verbatim


def read_varint(fh: IO[bytes]) -> tuple[int, bytes] | None:
    """(value, raw bytes), or None at a clean end of input."""
    raw = bytearray()
    while True:
        byte = fh.read(1)
        if not byte:
            if raw:
                raise ProtoMalformed("the input ends inside a varint")
            return None
        raw += byte
        if not byte[0] & 0x80:
            break
        if len(raw) == 10:
            raise ProtoMalformed("a varint is longer than 10 bytes")
    value = 0
    for shift, part in enumerate(raw):
        value |= (part & 0x7F) << (7 * shift)
    return value, bytes(raw)


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def encode_bytes_field(number: int, payload: bytes) -> bytes:
    return encode_varint(number << 3 | LENGTH) + encode_varint(len(payload)) + payload


def fields(fh: IO[bytes], length: int | None = None) -> Iterator[Field]:
    """The fields of the message at the current position, `length` bytes long (None: to the end
    of input). The caller consumes each LENGTH/FIXED payload (`skip`, `copy`, or `fh.read`)
    before asking for the next field."""
    consumed = 0
    while length is None or consumed < length:
        tag = read_varint(fh)
        if tag is None:
            if length is not None:
                raise ProtoMalformed("the input ends inside a message")
            return
        number, wire = tag[0] >> 3, tag[0] & 7
        if number == 0:
            raise ProtoMalformed("field number 0")
        if wire == VARINT:
            value = read_varint(fh)
            if value is None:
                raise ProtoMalformed("the input ends after a tag")
            consumed += len(tag[1]) + len(value[1])
            yield Field(number, wire, value[0], tag[1] + value[1])
        elif wire == LENGTH:
            size = read_varint(fh)
            if size is None:
                raise ProtoMalformed("the input ends after a tag")
            consumed += len(tag[1]) + len(size[1]) + size[0]
            yield Field(number, wire, size[0], tag[1] + size[1])
        elif wire in _FIXED:
            consumed += len(tag[1]) + _FIXED[wire]
            yield Field(number, wire, _FIXED[wire], tag[1])
        else:
            raise ProtoMalformed(f"unsupported wire type {wire}")
        if length is not None and consumed > length:
            raise ProtoMalformed("a field runs past the end of its message")


def skip(fh: IO[bytes], size: int) -> None:
    """Move past `size` payload bytes: a seek in a plain file, else read and drop (a zip member
    would decompress from its start again on every seek)."""
    try:
        end_of_file = os.fstat(fh.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        copy(fh, None, size)
        return
    target = fh.tell() + size
    if target > end_of_file:
        raise ProtoMalformed("a field runs past the end of the input")
    fh.seek(target)


def copy(fh: IO[bytes], out: IO[bytes] | None, size: int) -> None:
    """Copy `size` bytes from `fh` to `out` (None: drop them) in bounded chunks."""
    left = size
    while left:
        chunk = fh.read(min(left, COPY_CHUNK))
        if not chunk:
            raise ProtoMalformed("a field runs past the end of the input")
        if out is not None:
            out.write(chunk)
        left -= len(chunk)
