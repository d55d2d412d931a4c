"""Counting a JSON body's values before parsing it, so a small body cannot cost a lot of memory.

Parsed, every JSON value is a Python object of 30-100 bytes however short its text: ``{}`` is
2 bytes of JSON and a 64-byte dict, and 16 MiB of ``{},`` become 5.6 million dicts (over
600 MB). A body's byte limit therefore does not bound its parse; its number of values does.

Every value but the outermost follows a ``[``, ``{``, ``,`` or is an object member's key or
value; so ``,`` + ``[`` + ``{`` outside strings, plus one, bounds the number of values to
within a factor of two. Counting all three bytes, strings included, takes a few milliseconds
for 16 MiB and is an upper bound: when it is under the limit (every ordinary request) the body
is parsed at once. Only a body over it is scanned string by string for the exact count.
"""

from __future__ import annotations

import re

_STRUCTURE = (b",", b"[", b"{")
# A complete JSON string from its opening quote (unrolled, so it never backtracks badly).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def _structure(body: bytes, start: int, end: int) -> int:
    return sum(body.count(byte, start, end) for byte in _STRUCTURE)


def more_values_than(body: bytes, limit: int) -> bool:
    """Tell whether the JSON text ``body`` holds more than about ``limit`` values, building none."""
    if _structure(body, 0, len(body)) <= limit:
        return False
    count, position = 0, 0
    while (quote := body.find(b'"', position)) != -1:
        count += _structure(body, position, quote)
        if count > limit:
            return True
        string = _STRING.match(body, quote)
        if string is None:
            return False  # an unterminated string: the parser stops there, with what was counted
        position = string.end()
    return count + _structure(body, position, len(body)) > limit
