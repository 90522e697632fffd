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
import zipfile
from dataclasses import dataclass

import onnx
from django.conf import settings
from django.utils import timezone

FINGERPRINT_KEY = "modelbay.fingerprint"
MAC_KEY = "modelbay.fingerprint.mac"


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


def _stamp_onnx(data: bytes, mark: Mark) -> bytes:
    model = onnx.load_from_string(data)
    kept = [p for p in model.metadata_props if p.key not in (FINGERPRINT_KEY, MAC_KEY)]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    payload = json.dumps({"fid": mark.fingerprint_id, "ent": mark.entitlement_id,
                          "org": mark.organization_id, "at": mark.issued_at}, sort_keys=True)
    model.metadata_props.add(key=FINGERPRINT_KEY, value=payload)
    model.metadata_props.add(key=MAC_KEY, value=_mac(payload))
    return model.SerializeToString()


def stamp(data: bytes, mark: Mark) -> bytes:
    """Returns the file with the mark: a bare ONNX, or a zip whose .onnx members are marked."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return _stamp_onnx(data, mark)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename.endswith(".onnx"):
                content = _stamp_onnx(content, mark)
            dst.writestr(info.filename, content)
    return out.getvalue()


@dataclass(frozen=True)
class Reading:
    payload: dict | None
    authentic: bool
    file_sha256: str


def read(data: bytes) -> Reading:
    """The mark in a file (bare ONNX or zip), whether its mac is valid, and the file's hash."""
    sha = hashlib.sha256(data).hexdigest()
    blobs = [data]
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            blobs = [archive.read(n) for n in archive.namelist() if n.endswith(".onnx")]
    for blob in blobs:
        try:
            props = {p.key: p.value for p in onnx.load_from_string(blob).metadata_props}
        except Exception:  # not a parseable ONNX: no mark to read
            continue
        if FINGERPRINT_KEY in props:
            payload = props[FINGERPRINT_KEY]
            authentic = hmac.compare_digest(_mac(payload), props.get(MAC_KEY, ""))
            try:
                return Reading(json.loads(payload), authentic, sha)
            except ValueError:
                return Reading(None, False, sha)
    return Reading(None, False, sha)
