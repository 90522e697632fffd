"""API key format: `mb_live_` or `mb_test_`, 43 base62 characters of randomness (256 bits),
then a 6-character checksum. The checksum lets a secret scanner recognise a leaked key without
asking us, and lets us refuse a mistyped key without touching the database.

Only the SHA-256 of the whole key is stored; the plaintext exists once, in the create response.
"""

import hashlib
import secrets
import zlib
from dataclasses import dataclass

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 43  # 62**43 > 2**256
CHECKSUM_LENGTH = 6
PREFIXES = {"live": "mb_live_", "test": "mb_test_"}


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(ALPHABET[rem])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    hashed: str
    display_prefix: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate(mode: str = "live") -> NewKey:
    prefix = PREFIXES[mode]
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    plaintext = f"{prefix}{body}{_checksum(prefix + body)}"
    return NewKey(plaintext=plaintext, hashed=hash_key(plaintext), display_prefix=plaintext[: len(prefix) + 6])


def is_well_formed(candidate: str) -> bool:
    """Shape and checksum only: a key that fails this never reaches the database."""
    prefix = candidate[:8]
    if prefix not in PREFIXES.values():
        return False
    rest = candidate[8:]
    if len(rest) != RANDOM_LENGTH + CHECKSUM_LENGTH or any(c not in ALPHABET for c in rest):
        return False
    body, checksum = rest[:RANDOM_LENGTH], rest[RANDOM_LENGTH:]
    return secrets.compare_digest(_checksum(prefix + body), checksum)
