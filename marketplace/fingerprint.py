"""Per-buyer fingerprints in ONNX `metadata_props`.

A downloaded copy carries `modelbay.fingerprint` (JSON: fingerprint id, entitlement id, buyer
organization id, time) and `modelbay.fingerprint.mac` (HMAC-SHA256 of that JSON with
FINGERPRINT_SIGNING_KEY). The mac proves the platform wrote the mark; the id finds the
`Download` row, which records the exact file hash, so a leaked file names its buyer.
"""

import hashlib
import hmac
import io
import json
import secrets
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings
from django.utils import timezone

from inference.runtime import protowalk

FINGERPRINT_KEY = "modelbay.fingerprint"
MAC_KEY = "modelbay.fingerprint.mac"
# Metadata entries are small strings; a larger field 14 is copied through, not parsed.
_MAX_ENTRY_BYTES = 1024 * 1024


def _key() -> bytes:
    secret = settings.FINGERPRINT_SIGNING_KEY or f"fingerprints:{settings.SECRET_KEY}"
    return hashlib.sha256(secret.encode()).digest()


def _mac(payload: str) -> str:
    return hmac.new(_key(), payload.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Mark:
    fingerprint_id: str
    entitlement_id: int
    organization_id: int
    issued_at: str


def new_mark(*, entitlement_id: int, organization_id: int) -> Mark:
    return Mark(secrets.token_hex(16), entitlement_id, organization_id, timezone.now().isoformat())


def _entry(key: str, value: str) -> bytes:
    """One `StringStringEntryProto` as a `ModelProto.metadata_props` field (number 14)."""
    payload = protowalk.encode_bytes_field(1, key.encode()) + protowalk.encode_bytes_field(2, value.encode())
    return protowalk.encode_bytes_field(14, payload)


def _metadata_entry(payload: bytes) -> tuple[str, str]:
    key = value = ""
    source = io.BytesIO(payload)
    for field in protowalk.fields(source, len(payload)):
        raw = source.read(field.value) if field.wire != protowalk.VARINT else b""
        if field.number == 1:
            key = raw.decode("utf-8", "replace")
        elif field.number == 2:
            value = raw.decode("utf-8", "replace")
    return key, value


def _walk_metadata(src: IO[bytes], out: IO[bytes] | None) -> Iterator[tuple[str, str]]:
    """Yields each metadata entry of the ONNX model read from `src`; with `out`, copies every
    field except our own two marks. Payloads stream through in bounded chunks: a model with
    its weights inside is never held in memory (protobuf merges repeated fields, so entries
    appended at the end are metadata like any other)."""
    for field in protowalk.fields(src):
        if field.number == 14 and field.wire == protowalk.LENGTH and field.value <= _MAX_ENTRY_BYTES:
            payload = src.read(field.value)
            if len(payload) != field.value:
                raise protowalk.ProtoMalformed("the input ends inside a metadata entry")
            entry = _metadata_entry(payload)
            yield entry
            if out is not None and entry[0] not in (FINGERPRINT_KEY, MAC_KEY):
                out.write(field.header + payload)
            continue
        if out is not None:
            out.write(field.header)
        if field.wire == protowalk.VARINT:
            continue
        if out is not None:
            protowalk.copy(src, out, field.value)
        else:
            protowalk.skip(src, field.value)


def _stamp_onnx(src: IO[bytes], out: IO[bytes], mark: Mark) -> None:
    for _ in _walk_metadata(src, out):
        pass
    payload = json.dumps({"fid": mark.fingerprint_id, "ent": mark.entitlement_id,
                          "org": mark.organization_id, "at": mark.issued_at}, sort_keys=True)
    out.write(_entry(FINGERPRINT_KEY, payload) + _entry(MAC_KEY, _mac(payload)))


def stamp_file(source: Path, out: IO[bytes], mark: Mark) -> None:
    """Writes `source` with the mark to `out`: a bare ONNX, or a zip whose .onnx members are
    marked (other members copied with their own compression). Streams: memory stays flat."""
    if not zipfile.is_zipfile(source):
        with source.open("rb") as src:
            _stamp_onnx(src, out, mark)
        return
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            copied = zipfile.ZipInfo(info.filename, info.date_time)
            copied.compress_type, copied.external_attr = info.compress_type, info.external_attr
            with src.open(info) as member, dst.open(copied, "w", force_zip64=True) as sink:
                if info.filename.endswith(".onnx"):
                    _stamp_onnx(member, sink, mark)
                else:
                    shutil.copyfileobj(member, sink, protowalk.COPY_CHUNK)


@dataclass(frozen=True)
class Reading:
    payload: dict | None
    authentic: bool
    file_sha256: str


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(protowalk.COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _reading_of(props: dict[str, str], sha: str) -> Reading:
    payload = props[FINGERPRINT_KEY]
    authentic = hmac.compare_digest(_mac(payload), props.get(MAC_KEY, ""))
    try:
        return Reading(json.loads(payload), authentic, sha)
    except ValueError:
        return Reading(None, False, sha)


def _props(src: IO[bytes]) -> dict[str, str]:
    try:
        return dict(_walk_metadata(src, None))
    except protowalk.ProtoMalformed:  # not a parseable ONNX: no mark to read
        return {}


def read(path: Path) -> Reading:
    """The mark in a file (bare ONNX or zip), whether its mac is valid, and the file's hash.
    Streams, like `stamp_file`."""
    sha = _file_sha256(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".onnx"):
                    with archive.open(name) as member:
                        props = _props(member)
                    if FINGERPRINT_KEY in props:
                        return _reading_of(props, sha)
        return Reading(None, False, sha)
    with path.open("rb") as fh:
        props = _props(fh)
    return _reading_of(props, sha) if FINGERPRINT_KEY in props else Reading(None, False, sha)
