"""Attachment types: decide a file's type from its content and check it against its name.

Binary types are recognised by their magic bytes with the ``filetype`` library, tightened
where its matchers are loose (GIF, MP4). Text types have no magic bytes, so the whole file is
checked: TXT must be UTF-8 without binary control characters, JSON must also parse, SVG must
also be XML whose root element is ``svg``. The name's extension must belong to the detected
type; a name without an extension leaves the decision to the content (text is then TXT).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from xml.parsers import expat

import orjson
from filetype.types import archive as ft_archive
from filetype.types import image as ft_image
from filetype.types import video as ft_video

from collector.errors import UnsupportedMediaType

HEAD_BYTES = 8192  # what the magic-byte matchers look at (filetype's own window)
CHUNK_BYTES = 64 * 1024
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
# Control bytes that never occur in text: everything below 0x20 except TAB, LF, VT, FF, CR
# and ESC (ANSI colours in logs). In UTF-8 these bytes only ever stand for themselves.
_BINARY_CONTROLS = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
# filetype accepts only these three brands; recorders also write the later ISO brands.
_MP4_BRANDS = frozenset({"mp41", "mp42", "isom", "iso2", "iso4", "iso5", "iso6", "avc1", "dash"})


@dataclass(frozen=True)
class FileType:
    """An allowed attachment type: its label, MIME type and the extensions its names may carry."""

    label: str
    mime: str
    extensions: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.label} ({', '.join(self.extensions)})"


PNG = FileType("PNG", "image/png", (".png",))
JPG = FileType("JPG", "image/jpeg", (".jpg", ".jpeg"))
GIF = FileType("GIF", "image/gif", (".gif",))
WEBP = FileType("WebP", "image/webp", (".webp",))
SVG = FileType("SVG", "image/svg+xml", (".svg",))
PDF = FileType("PDF", "application/pdf", (".pdf",))
TXT = FileType("TXT", "text/plain", (".txt", ".log"))
JSON = FileType("JSON", "application/json", (".json",))
ZIP = FileType("ZIP", "application/zip", (".zip",))
MP4 = FileType("MP4", "video/mp4", (".mp4",))
WEBM = FileType("WebM", "video/webm", (".webm",))
ALLOWED: tuple[FileType, ...] = (PNG, JPG, GIF, WEBP, SVG, PDF, TXT, JSON, ZIP, MP4, WEBM)
TEXT_TYPES = (TXT, JSON, SVG)
ALLOWED_DESCRIPTION = "; ".join(t.describe() for t in ALLOWED)


def _gif(head: bytes) -> bool:
    return head[:6] in (b"GIF87a", b"GIF89a")  # filetype checks only "GIF"


def _mp4(head: bytes) -> bool:
    matcher = ft_video.Mp4()
    if not matcher._is_isobmff(head):
        return False
    major, _, compatible = matcher._get_ftyp(head)
    return major in _MP4_BRANDS or any(brand in _MP4_BRANDS for brand in compatible)


# Order matters only for safety, never for ambiguity: no two of these signatures overlap.
_MAGIC = (
    (PNG, ft_image.Png().match),
    (JPG, ft_image.Jpeg().match),
    (GIF, _gif),
    (WEBP, ft_image.Webp().match),
    (PDF, ft_archive.Pdf().match),
    (ZIP, ft_archive.Zip().match),
    (MP4, _mp4),
    (WEBM, ft_video.Webm().match),
)


def extension_of(file_name: str) -> str:
    """Return the lower-cased extension of ``file_name`` (``""`` when it has none)."""
    stem, dot, ext = file_name.rpartition(".")
    return f".{ext.lower()}" if dot and stem.strip(".") and ext else ""


def _refuse(message: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(f"{message}. Allowed types: {ALLOWED_DESCRIPTION}")


def detect(stream: BinaryIO, file_name: str) -> FileType:
    """Return the type of the file in ``stream`` (read from the start), or raise 415.

    Args:
        stream: the whole file, seekable; it is read in chunks, never all at once, except
            that a JSON file is parsed in one piece (it is at most the attachment limit).
        file_name: the display name; its extension must belong to the detected type.
    """
    ext = extension_of(file_name)
    if ext and not any(ext in t.extensions for t in ALLOWED):
        raise _refuse(f"'{file_name}' has the extension {ext}, which is not allowed")
    stream.seek(0)
    head = stream.read(HEAD_BYTES)
    for kind, matches in _MAGIC:
        if matches(head):
            if ext and ext not in kind.extensions:
                raise _refuse(f"'{file_name}' contains {kind.label} data but is named {ext}")
            return kind
    if ext and not any(ext in t.extensions for t in TEXT_TYPES):
        raise _refuse(f"'{file_name}' is not a valid {_type_for(ext).label} file")
    if not _is_text(stream):
        if ext:
            raise _refuse(f"'{file_name}' is named {ext} but is not UTF-8 text")
        raise _refuse(f"'{file_name}' is neither text nor a recognised binary type")
    if ext in JSON.extensions:
        if not _is_json(stream):
            raise _refuse(f"'{file_name}' is named .json but is not valid JSON")
        return JSON
    if ext in SVG.extensions:
        if not _is_svg(stream):
            raise _refuse(f"'{file_name}' is named .svg but is not XML with an <svg> root element")
        return SVG
    return TXT


def _type_for(ext: str) -> FileType:
    return next(t for t in ALLOWED if ext in t.extensions)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    stream.seek(0)
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def _is_text(stream: BinaryIO) -> bool:
    """Tell whether the stream is UTF-8 text without binary control characters."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for chunk in _chunks(stream):
            if _BINARY_CONTROLS.search(chunk):
                return False
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _is_json(stream: BinaryIO) -> bool:
    stream.seek(0)
    data = stream.read()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


class _RootFound(Exception):
    """Raised from the expat callback to stop parsing once the root element is known."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refuse_entities(*args: object) -> None:
    raise ValueError("entity declarations are not allowed")  # no entity-expansion bombs


def _is_svg(stream: BinaryIO) -> bool:
    """Tell whether the XML's root element is ``svg`` (SVG namespace or none).

    Parsing stops at the root element, so deep nesting costs nothing; entity declarations
    are refused outright, and external entities are never fetched (expat's default).
    """
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.EntityDeclHandler = _refuse_entities

    def start(name: str, attrs: object) -> None:
        raise _RootFound(name)

    parser.StartElementHandler = start
    try:
        for chunk in _chunks(stream):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except _RootFound as found:
        namespace, _, local = found.name.rpartition(" ")
        return local == "svg" and namespace in ("", SVG_NAMESPACE)
    except (expat.ExpatError, ValueError):
        return False
    return False
