"""Where the parts of a multipart upload wait for `complete`: one interface, two places.

- Local disk (FileSystemStorage): one file per part under `<storage root>/uploads/<org>/<session>/`.
- S3-compatible storage (django-storages' S3Storage): one S3 multipart upload per declared file,
  so every part is an S3 part and any web replica can take the next one.

Parts are sealed at rest like artifacts are: AES-256-GCM under the organization's data key, in
1 MiB chunks whose index, position (session, file, part) and final flag are authenticated, so
a part cannot be swapped, reordered or truncated unnoticed. Nothing here holds more than a
chunk in memory.
"""

from __future__ import annotations

import os
import secrets
import shutil
import struct
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.files.storage import default_storage

from marketplace.artifacts import ArtifactCorrupt, organization_data_key
from marketplace.models import UploadPart, UploadSession

CHUNK = 1024 * 1024
_TAG = 16
_PREFIX = 8


# --- sealing ------------------------------------------------------------------------------------

def _aad(session: UploadSession, file_index: int, number: int, index: int, final: bool) -> bytes:
    return session.id.bytes + struct.pack(">IIQB", file_index, number, index, 1 if final else 0)


def seal_part(*, session: UploadSession, file_index: int, number: int, source: IO[bytes], size: int,
              out: IO[bytes], digest) -> int:  # fmt: skip
    """Read exactly `size` bytes from `source`, feed `digest`, write them sealed to `out`.
    Returns how many bytes were read (fewer than `size` when the body ended early)."""
    aes = AESGCM(organization_data_key(session.organization))
    prefix = secrets.token_bytes(_PREFIX)
    out.write(prefix)
    done, index = 0, 0
    while done < size:
        chunk = _read_up_to(source, min(CHUNK, size - done))
        if not chunk:
            break  # the body ended early
        digest.update(chunk)
        done += len(chunk)
        nonce = prefix + struct.pack(">I", index)
        out.write(aes.encrypt(nonce, chunk, _aad(session, file_index, number, index, done >= size)))
        index += 1
    return done


def unseal_parts(session: UploadSession, file_index: int, parts: Iterable[UploadPart],
                 stream: IO[bytes]) -> Iterator[bytes]:  # fmt: skip
    """Plaintext of consecutive sealed parts read from `stream`, chunk by chunk."""
    aes = AESGCM(organization_data_key(session.organization))
    for part in parts:
        prefix = _read_exactly(stream, _PREFIX)
        left, index = part.size, 0
        while left > 0:
            length = min(CHUNK, left)
            sealed = _read_exactly(stream, length + _TAG)
            left -= length
            try:
                yield aes.decrypt(prefix + struct.pack(">I", index), sealed,
                                  _aad(session, file_index, part.number, index, left == 0))  # fmt: skip
            except InvalidTag as exc:
                raise ArtifactCorrupt(f"part {part.number} of file {file_index} failed authentication") from exc
            index += 1


def sealed_size(size: int) -> int:
    return _PREFIX + size + _TAG * -(-size // CHUNK)


def _read_up_to(stream: IO[bytes], length: int) -> bytes:
    """`length` bytes, or fewer only at the end of the stream (a read may return less)."""
    data = stream.read(length)
    while data and len(data) < length:
        more = stream.read(length - len(data))
        if not more:
            break
        data += more
    return data


def _read_exactly(stream: IO[bytes], length: int) -> bytes:
    data = _read_up_to(stream, length)
    if len(data) < length:
        raise ArtifactCorrupt("a stored upload part is truncated")
    return data


# --- stores -------------------------------------------------------------------------------------

class PartStore(Protocol):
    def begin(self, session: UploadSession) -> dict: ...
    def put(self, session: UploadSession, file_index: int, number: int, sealed: Path) -> str: ...
    def open_file(self, session: UploadSession, file_index: int, parts: list[UploadPart]) -> IO[bytes]: ...
    def delete(self, session: UploadSession) -> None: ...


class LocalPartStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, session: UploadSession) -> Path:
        return self.root / str(session.organization_id) / str(session.id)

    def begin(self, session: UploadSession) -> dict:
        return {}

    def put(self, session: UploadSession, file_index: int, number: int, sealed: Path) -> str:
        target = self._dir(session) / str(file_index) / str(number)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f"{number}.{secrets.token_hex(4)}.tmp")  # one per request: parts may race
        shutil.move(sealed, staged)
        os.replace(staged, target)  # a re-sent part replaces the old one whole
        return ""

    def open_file(self, session: UploadSession, file_index: int, parts: list[UploadPart]) -> IO[bytes]:
        return _Concatenated([self._dir(session) / str(file_index) / str(p.number) for p in parts])

    def delete(self, session: UploadSession) -> None:
        shutil.rmtree(self._dir(session), ignore_errors=True)


class _Concatenated:
    """The part files of one declared file, read as one stream (like the assembled S3 object)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths, self.current = list(paths), None

    def read(self, size: int = -1) -> bytes:
        while True:
            if self.current is None:
                if not self.paths:
                    return b""
                self.current = open(self.paths.pop(0), "rb")  # noqa: SIM115 - closed below
            data = self.current.read(size)
            if data:
                return data
            self.current.close()
            self.current = None

    def close(self) -> None:
        if self.current is not None:
            self.current.close()

    def __enter__(self) -> _Concatenated:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class S3PartStore:
    """One S3 multipart upload per declared file (S3 part number = our part + 1)."""

    def __init__(self, storage) -> None:
        self.client = storage.connection.meta.client
        self.bucket = storage.bucket_name
        self.prefix = (storage.location or "").strip("/")

    def _key(self, session: UploadSession, file_index: int) -> str:
        key = f"uploads/{session.organization_id}/{session.id}/{file_index}"
        return f"{self.prefix}/{key}" if self.prefix else key

    def begin(self, session: UploadSession) -> dict:
        state = {}
        for index, spec in enumerate(session.files):
            if spec["size"] > 0:
                created = self.client.create_multipart_upload(Bucket=self.bucket, Key=self._key(session, index))
                state[str(index)] = created["UploadId"]
        return state

    def put(self, session: UploadSession, file_index: int, number: int, sealed: Path) -> str:
        with open(sealed, "rb") as body:
            answer = self.client.upload_part(
                Bucket=self.bucket, Key=self._key(session, file_index), PartNumber=number + 1,
                UploadId=session.store_state[str(file_index)], Body=body,
            )  # fmt: skip
        return answer["ETag"]

    def open_file(self, session: UploadSession, file_index: int, parts: list[UploadPart]) -> IO[bytes]:
        key = self._key(session, file_index)
        upload_id = session.store_state[str(file_index)]
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"ETag": p.etag, "PartNumber": p.number + 1} for p in parts]},
            )  # fmt: skip
        except self.client.exceptions.NoSuchUpload:
            pass  # completed by an earlier attempt that died later: the object is there
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]

    def delete(self, session: UploadSession) -> None:
        for index, upload_id in (session.store_state or {}).items():
            key = self._key(session, int(index))
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except self.client.exceptions.NoSuchUpload:
                pass
            self.client.delete_object(Bucket=self.bucket, Key=key)


def part_store() -> PartStore:
    """The store that goes with the configured default storage."""
    try:
        return LocalPartStore(Path(default_storage.path("uploads")))
    except NotImplementedError:  # not a filesystem: S3-compatible storage through django-storages
        return S3PartStore(default_storage)


def scratch_file(prefix: str) -> IO[bytes]:
    """A temporary file where Django keeps uploads it streams to disk."""
    return tempfile.NamedTemporaryFile(prefix=prefix, dir=settings.FILE_UPLOAD_TEMP_DIR, delete=False)  # noqa: SIM115
