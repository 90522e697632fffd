"""The files of a push: a folder's regular files (hidden ones left out) or one file, hashed while
streaming, and the parts they are sent in. Nothing reads a whole file into memory: hashing reads
8 MiB at a time, and a part (at most the server's part size) is the most held at once per sender."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelbay_cli.errors import CliError, Exit

CHUNK = 8 * 2**20


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative, with forward slashes: what the server stores it as
    local: Path
    size: int


def collect(source: Path) -> list[LocalFile]:
    """One file, or every regular file under a folder (sorted; names starting with a dot, such as
    .git or .cache, are left out: they are never part of a checkpoint)."""
    if source.is_file():
        return [LocalFile(path=source.name, local=source, size=source.stat().st_size)]
    if not source.is_dir():
        raise CliError(f"{source} is neither a file nor a folder.", exit_code=Exit.BAD_INPUT, code="not_a_file")
    found = []
    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            local = Path(root) / name
            if name.startswith(".") or not local.is_file():
                continue
            found.append(LocalFile(path=local.relative_to(source).as_posix(), local=local,
                                   size=local.stat().st_size))
    if not found:
        raise CliError(f"{source} holds no files to push.", exit_code=Exit.BAD_INPUT, code="empty_folder")
    return sorted(found, key=lambda f: f.path)


def sha256_of(path: Path, progress: Callable[[int], None] = lambda n: None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            progress(len(chunk))
    return digest.hexdigest()


def read_part(path: Path, number: int, part_size: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(number * part_size)
        return fh.read(part_size)


def parse_size(text: str) -> int:
    """`67108864`, `64M`, `64MiB`, `1G` -> bytes (binary units: what part sizes are counted in)."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (cleaned[:-1], cleaned[-1]) if cleaned[-1:] in "KMG" and cleaned[-1:] else (cleaned, "")
    try:
        value = int(float(number) * units[unit])
    except (ValueError, KeyError):
        raise CliError(f"'{text}' is not a size; write it like 64MiB or 67108864.",
                       exit_code=Exit.BAD_INPUT, code="bad_size") from None
    if value <= 0:
        raise CliError("A part size must be positive.", exit_code=Exit.BAD_INPUT, code="bad_size")
    return value
