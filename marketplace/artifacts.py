"""Vendor artifacts, content-addressed and encrypted at rest, through Django's storage API.

Name: `artifacts/<org-id>/<sha256 of the plaintext>`; saving the same content twice stores once.

Format of a stored artifact (all streamed, never a whole file in memory):
    header  = b"MBA1" || nonce_prefix (8 random bytes) || chunk_size (u32 big-endian)
    chunk_i = AES-256-GCM(data_key, nonce = prefix || u32(i), plaintext[i],
                          aad = header || u64(i) || final_flag)
The index and the final flag are authenticated, so chunks cannot be reordered, dropped or the
file truncated. The data key is per organization, random, stored wrapped (AES key wrap) under
`settings.MODELBAY_MASTER_KEY`; `_wrap`/`_unwrap` are the one place a KMS would plug in.

Multi-file ONNX (model.onnx + external data) is stored as ONE zip artifact; the version records
the layout (`optimization["serving_layout"]`: "onnx" or "onnx_zip").
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from accounts.models import Organization
from marketplace.models import OrganizationDataKey

MAGIC = b"MBA1"
CHUNK_SIZE = 1024 * 1024
_TAG = 16
_HEADER = struct.Struct(">4s8sI")
_key_cache: dict[bytes, bytes] = {}


@dataclass(frozen=True)
class Artifact:
    name: str
    sha256: str
    size: int


class ArtifactCorrupt(Exception):
    """The stored bytes fail authentication: tampered, truncated or the wrong key."""


# --- keys -----------------------------------------------------------------------------------

def _master_key() -> bytes:
    raw = settings.MODELBAY_MASTER_KEY
    if not raw:
        raise ImproperlyConfigured("MODELBAY_MASTER_KEY is not set (base64 of 32 random bytes).")
    key = base64.b64decode(raw)
    if len(key) != 32:
        raise ImproperlyConfigured("MODELBAY_MASTER_KEY must decode to exactly 32 bytes.")
    return key


def _wrap(data_key: bytes) -> bytes:
    return aes_key_wrap(_master_key(), data_key)


def _unwrap(wrapped: bytes) -> bytes:
    return aes_key_unwrap(_master_key(), wrapped)


def _data_key(organization: Organization) -> bytes:
    row = OrganizationDataKey.objects.filter(organization=organization).first()
    if row is None:
        try:
            with transaction.atomic():
                row = OrganizationDataKey.objects.create(
                    organization=organization, wrapped_key=_wrap(secrets.token_bytes(32))
                )
        except IntegrityError:  # another process created it first: use theirs
            row = OrganizationDataKey.objects.get(organization=organization)
    wrapped = bytes(row.wrapped_key)
    # Cached by the wrapped bytes (not the org id), so a replaced key is never served stale.
    if wrapped not in _key_cache:
        _key_cache[wrapped] = _unwrap(wrapped)
    return _key_cache[wrapped]


# --- public API -----------------------------------------------------------------------------

def artifact_save(*, organization: Organization, source: IO[bytes] | Path, kind: str) -> Artifact:
    """Encrypt `source` chunk-wise to storage. `kind` (source, onnx, int8, ...) is for logs only:
    the name depends on the content, so identical bytes of any kind share one artifact."""
    aes = AESGCM(_data_key(organization))
    prefix = secrets.token_bytes(8)
    header = _HEADER.pack(MAGIC, prefix, CHUNK_SIZE)
    digest, size = hashlib.sha256(), 0
    with tempfile.NamedTemporaryFile(prefix=f"mb-{kind}-", suffix=".enc") as sealed:
        sealed.write(header)
        for index, chunk, final in _chunks(source):
            digest.update(chunk)
            size += len(chunk)
            sealed.write(aes.encrypt(_nonce(prefix, index), chunk, _aad(header, index, final)))
        sealed.flush()
        sealed.seek(0)
        sha = digest.hexdigest()
        name = f"artifacts/{organization.pk}/{sha}"
        if not _readable(organization, name):  # absent, or sealed under a key we no longer hold
            if default_storage.exists(name):
                default_storage.delete(name)
            stored = default_storage.save(name, File(sealed))
            if stored != name:  # a concurrent save of the same content won the name
                default_storage.delete(stored)
    return Artifact(name=name, sha256=sha, size=size)


def artifact_read(*, organization: Organization, name: str) -> bytes:
    """Decrypt a (small) artifact into memory."""
    return b"".join(_decrypt(organization, name))


def artifact_export_to(*, organization: Organization, name: str, path: Path) -> None:
    """Decrypt to `path`, created 0600; a file that fails authentication is removed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in _decrypt(organization, name):
                out.write(chunk)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise


def artifact_delete(*, organization: Organization, name: str) -> None:
    if not name.startswith(f"artifacts/{organization.pk}/"):
        raise ValueError("artifact does not belong to this organization")
    default_storage.delete(name)


def organization_data_key(organization: Organization) -> bytes:
    """The organization's data key, for the other things sealed at rest (upload parts)."""
    return _data_key(organization)


def artifact_exists(*, organization: Organization, name: str) -> bool:
    return name.startswith(f"artifacts/{organization.pk}/") and default_storage.exists(name)


def _readable(organization: Organization, name: str) -> bool:
    """True when `name` exists and its first chunk authenticates under the org's key."""
    if not default_storage.exists(name):
        return False
    chunks = _decrypt(organization, name)
    try:
        next(chunks)
        return True
    except (ArtifactCorrupt, ValueError, StopIteration):
        return False
    finally:
        chunks.close()


# --- chunking -------------------------------------------------------------------------------

def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


def _chunks(source: IO[bytes] | Path) -> Iterator[tuple[int, bytes, bool]]:
    """(index, chunk, is_final) with one chunk of look-ahead so the last one is flagged."""
    fh = open(source, "rb") if isinstance(source, Path) else source  # noqa: SIM115
    try:
        if not isinstance(source, Path) and hasattr(fh, "seek"):
            fh.seek(0)
        index, current = 0, fh.read(CHUNK_SIZE)
        while True:
            following = fh.read(CHUNK_SIZE) if current else b""
            yield index, current, not following
            if not following:
                return
            index, current = index + 1, following
    finally:
        if isinstance(source, Path):
            fh.close()


def _decrypt(organization: Organization, name: str) -> Iterator[bytes]:
    if not name.startswith(f"artifacts/{organization.pk}/"):
        raise ArtifactCorrupt("artifact does not belong to this organization")
    aes = AESGCM(_data_key(organization))
    with default_storage.open(name, "rb") as fh:
        header = fh.read(_HEADER.size)
        try:
            magic, prefix, chunk_size = _HEADER.unpack(header)
        except struct.error as exc:
            raise ArtifactCorrupt(f"{name} is truncated") from exc
        if magic != MAGIC:
            raise ArtifactCorrupt(f"{name} is not a Modelbay artifact")
        index, current = 0, fh.read(chunk_size + _TAG)
        while True:
            following = fh.read(chunk_size + _TAG)
            final = not following
            try:
                yield aes.decrypt(_nonce(prefix, index), current, _aad(header, index, final))
            except InvalidTag as exc:
                raise ArtifactCorrupt(f"{name} failed authentication at chunk {index}") from exc
            if final:
                return
            index, current = index + 1, following
