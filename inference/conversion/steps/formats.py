"""Recognise an upload by its content (never its file name).

Only formats that can be opened without unpickling vendor bytes in this process are
accepted. Raw pickles, and ``torch.save`` zips (a pickle in a zip), are refused because
loading them runs arbitrary code.
"""

from __future__ import annotations

import struct
import zipfile
from enum import StrEnum
from pathlib import Path, PurePosixPath

from inference.runtime import protowalk
from inference.runtime.protowalk import ProtoMalformed

from .errors import ACCEPTED_FORMATS, MalformedFile, UnsupportedFormat


class SourceFormat(StrEnum):
    ONNX = "onnx"
    ONNX_ZIP = "onnx_zip"
    TORCHSCRIPT = "torchscript"
    TORCH_EXPORT = "torch_export"
    HF_ZIP = "hf_zip"


ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_ARCHIVE_MAGICS = {
    b"7z\xbc\xaf\x27\x1c": "a 7z archive",
    b"\x1f\x8b": "a gzip file",
    b"BZh": "a bzip2 file",
    b"\xfd7zXZ\x00": "an xz file",
    b"Rar!\x1a\x07": "a RAR archive",
}
# ONNX protobufs are far below 2 GiB unless their weights live in external data.
MAX_ONNX_PROTO_BYTES = 2**31 - 1
# Hugging Face checkpoints saved without safetensors (torch.save pickles, whatever the suffix).
_PICKLED_WEIGHTS = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
PICKLE_REFUSAL = (
    "this file is a Python pickle; raw pickles are refused because loading them runs "
    f"arbitrary code. Instead, {ACCEPTED_FORMATS}"
)


def sniff(path: str | Path) -> SourceFormat:
    """Return the format of ``path`` or raise ``ModelCheckError`` naming the accepted ones."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(64)
    if size == 0:
        raise MalformedFile(f"the file is empty; {ACCEPTED_FORMATS}")
    for magic, what in _ARCHIVE_MAGICS.items():
        if head.startswith(magic):
            raise MalformedFile(
                f"the upload is {what}, which is not accepted; use a plain zip. {ACCEPTED_FORMATS}",
                details={"detected": what},
            )
    if is_pickle(head):
        raise UnsupportedFormat(PICKLE_REFUSAL, details={"detected": "pickle"})
    if head.startswith(ZIP_MAGICS):
        return _sniff_zip(path)
    if is_safetensors(head, size):
        raise UnsupportedFormat(
            "a bare safetensors file has no architecture; zip it together with its "
            "config.json (a Hugging Face folder saved with save_pretrained)",
            details={"detected": "safetensors"},
        )
    return _sniff_onnx(path, size, head)


def is_pickle(head: bytes) -> bool:
    # Protocol 2+ pickles start with PROTO <version>; torch.save's legacy format too.
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def is_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return 0 < header_len < size and head[8:9] == b"{"


def _sniff_zip(path: Path) -> SourceFormat:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [i.filename for i in zf.infolist()]
            if _has_torch_member(names, "archive_format"):
                return SourceFormat.TORCH_EXPORT
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise MalformedFile(
            "the zip archive is truncated or damaged; re-create it and upload again",
            details={"reason": str(exc)[:200]},
        ) from exc
    if _has_torch_member(names, "data.pkl"):
        if _has_torch_member(names, "constants.pkl") and any(_is_torch_code(n) for n in names):
            return SourceFormat.TORCHSCRIPT
        raise UnsupportedFormat(
            "this is a torch.save checkpoint (a pickled state dict or module); "
            f"it is refused because loading it runs arbitrary code. Instead, {ACCEPTED_FORMATS}",
            details={"detected": "torch_save"},
        )
    if _hf_root(names) is not None:
        return SourceFormat.HF_ZIP
    onnx_members = [n for n in names if n.lower().endswith(".onnx")]
    if len(onnx_members) == 1:
        return SourceFormat.ONNX_ZIP
    if len(onnx_members) > 1:
        raise UnsupportedFormat(
            f"the zip holds {len(onnx_members)} .onnx files; upload one model per version",
            details={"onnx_members": onnx_members[:10]},
        )
    pickled = [n for n in names if n.lower().endswith(_PICKLED_WEIGHTS)]
    if pickled and any(PurePosixPath(n).name == "config.json" for n in names):
        raise UnsupportedFormat(
            f"{pickled[0]} holds pickled weights and the zip has no safetensors; raw pickles are "
            "refused because loading them runs arbitrary code. Save the model with "
            "save_pretrained(safe_serialization=True) and zip config.json with its .safetensors",
            details={"detected": "pickle", "member": pickled[0]},
        )
    raise UnsupportedFormat(
        f"the zip holds no recognised model. {ACCEPTED_FORMATS}",
        details={"members": names[:20]},
    )


def _has_torch_member(names: list[str], member: str) -> bool:
    # torch archives put everything under a single "<name>/" prefix.
    return any(len(p := PurePosixPath(n).parts) == 2 and p[1] == member for n in names)


def _is_torch_code(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return len(parts) >= 3 and parts[1] == "code"


def hf_root(names: list[str]) -> str | None:
    """Folder inside the zip holding config.json + safetensors weights ('' = the root)."""
    return _hf_root(names)


def _hf_root(names: list[str]) -> str | None:
    nameset = set(names)
    for prefix in sorted({str(PurePosixPath(n).parent) for n in names if n.endswith("config.json")}):
        base = "" if prefix == "." else prefix + "/"
        if base + "config.json" not in nameset:
            continue
        if base + "model.safetensors" in nameset or base + "model.safetensors.index.json" in nameset:
            return base.rstrip("/")
    return None


def _sniff_onnx(path: Path, size: int, head: bytes) -> SourceFormat:
    if size > MAX_ONNX_PROTO_BYTES:
        raise UnsupportedFormat(
            "an ONNX file over 2 GiB must keep its weights in external data; upload a zip "
            "holding the .onnx and its .data file"
        )
    looks_like_onnx = head[:1] == b"\x08"  # field 1 (ir_version) comes first in exported models
    try:
        complete = _onnx_outline_complete(path)
    except ProtoMalformed as exc:
        if looks_like_onnx:
            raise MalformedFile(
                "the ONNX file could not be parsed (truncated or damaged); export it again",
                details={"reason": str(exc)[:200]},
            ) from exc
        raise UnsupportedFormat(
            f"the file is not a recognised model format. {ACCEPTED_FORMATS}"
        ) from exc
    if not complete:
        raise (MalformedFile if looks_like_onnx else UnsupportedFormat)(
            f"the file is not a complete ONNX model. {ACCEPTED_FORMATS}"
        )
    return SourceFormat.ONNX


def _onnx_outline_complete(path: Path) -> bool:
    """Whether the file's field outline is an ONNX model: ir_version > 0, an opset import and a
    graph with a node. Only tags and lengths are read (weights are skipped, memory stays flat);
    the full parse and checker run later in the pipeline's sandboxed check."""
    ir_version, opsets, nodes = 0, False, False
    with path.open("rb") as fh:
        for field in protowalk.fields(fh):
            if field.number == 7 and field.wire == protowalk.LENGTH:  # graph
                for inner in protowalk.fields(fh, field.value):
                    nodes = nodes or (inner.number == 1 and inner.wire == protowalk.LENGTH)
                    if inner.wire != protowalk.VARINT:
                        protowalk.skip(fh, inner.value)
                continue
            if field.number == 1 and field.wire == protowalk.VARINT:
                ir_version = field.value
            opsets = opsets or (field.number == 8 and field.wire == protowalk.LENGTH)
            if field.wire != protowalk.VARINT:
                protowalk.skip(fh, field.value)
    return ir_version > 0 and opsets and nodes
