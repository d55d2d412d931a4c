"""Real PNG files for tests, built with zlib and struct (no imaging library needed)."""

from __future__ import annotations

import struct
import zlib

Rgb = tuple[int, int, int]


def png_rows(pixels: list[list[Rgb]]) -> bytes:
    """A valid RGB PNG of the given rows of pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"".join(bytes(p) for p in row) for row in pixels)
    header = struct.pack(">IIBBBBB", len(pixels[0]), len(pixels), 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def solid_png(width: int = 1, height: int = 1, rgb: Rgb = (0, 0, 0)) -> bytes:
    """A PNG of one colour (one black pixel by default)."""
    return png_rows([[rgb] * width for _ in range(height)])


def make_png(width: int = 4, height: int = 3, rgb: Rgb = (200, 30, 30)) -> bytes:
    """A valid RGB PNG of one colour (the plugin tests' screenshot)."""
    return solid_png(width, height, rgb)
