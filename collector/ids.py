"""Collision-resistant, URL-safe ids in the cuid style (``c`` + time + randomness).

The ``cuid2`` package hashes every id (about 60 µs each here), which would dominate bulk
ingest; these take well under a microsecond each in batches. The millisecond time prefix
keeps new rows close together in primary-key indexes; the 80 random bits (base 32, lower
case) make a collision within one millisecond negligible.
"""

from __future__ import annotations

import base64
import os
import time

from collector.errors import NotFound, shorten

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_RANDOM_BYTES = 10  # 80 bits -> 16 base-32 characters, no padding


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
    text = base64.b32encode(os.urandom(_RANDOM_BYTES * count)).decode("ascii").lower()
    return [prefix + text[i : i + 16] for i in range(0, 16 * count, 16)]


def new_id() -> str:
    """Return one new id."""
    return new_ids(1)[0]


def require_plausible(kind: str, record_id: str) -> None:
    """Raise NotFound for an id no row can have.

    No id holds a NUL, and PostgreSQL refuses NUL in any text parameter (a 500 otherwise).
    """
    if "\x00" in record_id:
        raise NotFound(f"{kind} {shorten(record_id)!r} was not found")
