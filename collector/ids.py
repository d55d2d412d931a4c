"""Collision-resistant, URL-safe ids in the cuid style (``c`` + time + randomness).

The ``cuid2`` package hashes every id (about 60 µs each here), which would dominate bulk
ingest; these take well under a microsecond each in batches. The millisecond time prefix
keeps new rows close together in primary-key indexes; the 80 random bits (base 32, lower
case) make a collision within one millisecond negligible.
"""

from __future__ import annotations

import os
import time

from collector.errors import NotFound, shorten

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_RANDOM_CHARS = 16  # 5 random bits each: 80 bits
#: A random byte to one of the 32 characters of base 32 (lower case): 256 is 8 x 32, so each
#: character is equally likely. One ``bytes.translate`` does a whole batch in C.
_BASE32 = bytes(b"abcdefghijklmnopqrstuvwxyz234567"[byte % 32] for byte in range(256))


def _time_prefix() -> str:
    millis = time.time_ns() // 1_000_000
    digits = []
    for _ in range(9):  # 36**9 ms reaches past the year 5000
        millis, rest = divmod(millis, 36)
        digits.append(_ALPHABET[rest])
    return "c" + "".join(reversed(digits))


def new_ids(count: int) -> list[str]:
    """Return ``count`` new 26-character ids such as ``c0mx1aaz4gezdgnbvgy3tqojqgi``."""
    prefix = _time_prefix()
    text = os.urandom(_RANDOM_CHARS * count).translate(_BASE32).decode("ascii")
    return [prefix + text[i : i + _RANDOM_CHARS] for i in range(0, _RANDOM_CHARS * count, _RANDOM_CHARS)]


def new_id() -> str:
    """Return one new id."""
    return new_ids(1)[0]


def require_plausible(kind: str, record_id: str) -> None:
    """Raise NotFound for an id no row can have.

    No id holds a NUL, and PostgreSQL refuses NUL in any text parameter (a 500 otherwise).
    """
    if "\x00" in record_id:
        raise NotFound(f"{kind} {shorten(record_id)!r} was not found")
