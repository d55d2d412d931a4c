"""Real minimal files of every allowed attachment type, built in code, and multipart helpers."""

from __future__ import annotations

import base64
import io
import struct
import zipfile

from tests.support.images import solid_png


def png(width: int = 1, height: int = 1) -> bytes:
    """A valid RGB PNG (one black pixel by default)."""
    return solid_png(width, height)


def gif() -> bytes:
    """A 1x1 GIF89a."""
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
        b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def jpeg() -> bytes:
    """A 1x1 grey baseline JPEG: one quantisation table, one-code Huffman tables, one block."""

    def segment(marker: int, data: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(data) + 2) + data

    one_code = bytes([1] + [0] * 15) + b"\x00"  # one code of length 1, for symbol 0
    return b"".join(
        [
            b"\xff\xd8",
            segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            segment(0xDB, b"\x00" + b"\x01" * 64),
            segment(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00"),
            segment(0xC4, b"\x00" + one_code),
            segment(0xC4, b"\x10" + one_code),
            segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            b"\x3f",  # DC difference 0, then end of block, padded with ones
            b"\xff\xd9",
        ]
    )


def webp() -> bytes:
    """A 1x1 lossless WebP."""
    return base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")


def pdf() -> bytes:
    """A one-page PDF with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def zip_archive(members: dict[str, bytes] | None = None, stored: bool = False) -> bytes:
    """A ZIP archive (deflated, or stored without compression)."""
    buffer = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in (members or {"trace.txt": b"step 1\n"}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload) + 8) + kind + payload


def mp4(payload_bytes: int = 16) -> bytes:
    """An ISO base media file: an ``ftyp`` box (isom) and an ``mdat`` box of zeros."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2mp41")
    return ftyp + _box(b"free", b"") + _box(b"mdat", b"\x00" * payload_bytes)


def webm() -> bytes:
    """An EBML header with DocType ``webm`` and an empty Segment."""
    elements = [
        b"\x42\x86\x81\x01",  # EBMLVersion 1
        b"\x42\xf7\x81\x01",  # EBMLReadVersion 1
        b"\x42\xf2\x81\x04",  # EBMLMaxIDLength 4
        b"\x42\xf3\x81\x08",  # EBMLMaxSizeLength 8
        b"\x42\x82\x84webm",  # DocType
        b"\x42\x87\x81\x02",  # DocTypeVersion 2
        b"\x42\x85\x81\x02",  # DocTypeReadVersion 2
    ]
    header = b"".join(elements)
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(header)]) + header + b"\x18\x53\x80\x67\x80"


SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>\n"
)
TXT = "Traceback (most recent call last):\n  assert 'Welcome' == 'Erreur é'\n\x1b[31mFAILED\x1b[0m\n".encode()
JSON = b'{"console": ["warning: slow"], "ok": false}'
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program"
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"

#: (file name, bytes, MIME type the collector must report) for every allowed type.
ALLOWED_SAMPLES = [
    ("screenshot.png", png(), "image/png"),
    ("photo.jpg", jpeg(), "image/jpeg"),
    ("photo.jpeg", jpeg(), "image/jpeg"),
    ("anim.gif", gif(), "image/gif"),
    ("image.webp", webp(), "image/webp"),
    ("drawing.svg", SVG, "image/svg+xml"),
    ("report.pdf", pdf(), "application/pdf"),
    ("console.txt", TXT, "text/plain"),
    ("server.log", TXT, "text/plain"),
    ("data.json", JSON, "application/json"),
    ("trace.zip", zip_archive(), "application/zip"),
    ("video.mp4", mp4(), "video/mp4"),
    ("video.webm", webm(), "video/webm"),
]


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "qahubBoundary7MA4YWxk") -> bytes:
    """Encode ``(field, file name or None, bytes)`` parts as multipart/form-data, unchanged.

    Unlike ``requests``, this keeps names byte for byte (control characters included).
    """
    out = bytearray()
    for field, name, data in parts:
        disposition = f'form-data; name="{field}"' + ("" if name is None else f'; filename="{name}"')
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def multipart_type(boundary: str = "qahubBoundary7MA4YWxk") -> str:
    return f"multipart/form-data; boundary={boundary}"
