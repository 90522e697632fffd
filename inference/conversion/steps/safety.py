"""Archive safety: check a zip on its real central directory and extract it on real bytes.

Header sizes and counts are only used to refuse early; the caps are enforced again while
streaming, on the bytes actually decompressed. ONNX graph checks live in ``onnx_safety``
and are re-exported here so callers have one import for SECURITY.md rows 1-8.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from .errors import ArchiveUnsafe, MalformedFile
from .onnx_safety import ALLOWED_DOMAINS, check_onnx  # noqa: F401  (re-export)

MAX_ENTRIES = 10_000
MAX_TOTAL_BYTES = 8 * 2**30
_CHUNK = 1 << 20
_EOCD = b"PK\x05\x06"


def check_zip(
    path: str | Path, *, max_entries: int = MAX_ENTRIES, max_total_bytes: int = MAX_TOTAL_BYTES
) -> list[zipfile.ZipInfo]:
    """Refuse unsafe archives from their central directory; return the entries to extract."""
    path = Path(path)
    declared = _declared_entry_count(path)
    if declared is not None and declared > max_entries:
        raise _too_many(declared, max_entries)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise MalformedFile(
            "the zip archive is truncated or damaged; re-create it and upload again",
            details={"reason": str(exc)[:200]},
        ) from exc
    if len(infos) > max_entries:
        raise _too_many(len(infos), max_entries)
    seen: set[str] = set()
    declared_total = 0
    for info in infos:
        _check_name(info.filename)
        key = info.filename.rstrip("/").lower()
        if key in seen:
            raise ArchiveUnsafe(
                f"the archive holds {info.filename!r} twice; remove the duplicate entry",
                details={"entry": info.filename},
            )
        seen.add(key)
        _check_entry_type(info)
        declared_total += info.file_size
    if declared_total > max_total_bytes:
        raise _too_big(max_total_bytes)
    return infos


def extract_zip(
    path: str | Path,
    dest: str | Path,
    *,
    max_entries: int = MAX_ENTRIES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    keep: Callable[[str], bool] | None = None,
) -> list[str]:
    """Check then extract into ``dest`` (must be empty or absent); return the files written.

    ``keep(name)`` may skip members (e.g. pickled ``pytorch_model.bin`` next to safetensors).
    """
    infos = check_zip(path, max_entries=max_entries, max_total_bytes=max_total_bytes)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written: list[str] = []
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in infos:
                if info.is_dir() or (keep is not None and not keep(info.filename)):
                    continue
                target = (root / info.filename).resolve()
                if not target.is_relative_to(root):
                    raise ArchiveUnsafe(f"entry {info.filename!r} points outside the archive")
                target.parent.mkdir(parents=True, exist_ok=True)
                # O_EXCL|O_NOFOLLOW: never write through a link planted by an earlier entry.
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with zf.open(info) as src, os.fdopen(fd, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        total += len(chunk)
                        if total > max_total_bytes:
                            raise _too_big(max_total_bytes)
                        out.write(chunk)
                written.append(info.filename)
    except zipfile.BadZipFile as exc:  # CRC or size mismatch found while streaming
        _clear(dest)
        raise ArchiveUnsafe(
            "an archive entry does not match its recorded size or checksum; re-create the zip",
            details={"reason": str(exc)[:200]},
        ) from exc
    except BaseException:
        _clear(dest)
        raise
    return written


def _declared_entry_count(path: Path) -> int | None:
    """Entry count from the end-of-central-directory record, before parsing any entry."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - (65535 + 22)))
        tail = fh.read()
    pos = tail.rfind(_EOCD)
    if pos < 0 or len(tail) < pos + 22:
        return None
    (count,) = struct.unpack("<H", tail[pos + 10 : pos + 12])
    return None if count == 0xFFFF else count  # 0xFFFF: zip64, counted from infolist


def _check_name(name: str) -> None:
    norm = name.replace("\\", "/")
    parts = PurePosixPath(norm).parts
    if (
        not name
        or "\x00" in name
        or norm.startswith("/")
        or (len(norm) > 1 and norm[1] == ":")
        or ".." in parts
    ):
        raise ArchiveUnsafe(
            f"entry {name!r} uses an absolute path or '..'; archive paths must stay inside "
            "the archive",
            details={"entry": name},
        )


def _check_entry_type(info: zipfile.ZipInfo) -> None:
    if info.flag_bits & 0x1:
        raise ArchiveUnsafe(
            f"entry {info.filename!r} is encrypted; upload an unencrypted zip",
            details={"entry": info.filename},
        )
    mode = info.external_attr >> 16
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "a special file"
        raise ArchiveUnsafe(
            f"entry {info.filename!r} is {kind}; archives may hold only regular files",
            details={"entry": info.filename},
        )


def _too_many(count: int, cap: int) -> ArchiveUnsafe:
    return ArchiveUnsafe(
        f"the archive has {count} entries, more than the limit of {cap}",
        details={"entries": count, "max_entries": cap},
    )


def _too_big(cap: int) -> ArchiveUnsafe:
    return ArchiveUnsafe(
        f"the archive expands to more than {cap / 2**20:.0f} MiB, the limit for one model",
        details={"max_total_bytes": cap},
    )


def _clear(dest: Path) -> None:
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
