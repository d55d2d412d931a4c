"""Attachment types: decide a file's type from its content and check it against its name.

Binary types are recognised by their magic bytes with the ``filetype`` library, tightened
where its matchers are loose (GIF, MP4). Text types have no magic bytes, so the whole file is
checked: TXT must be UTF-8 without binary control characters, JSON must also parse, SVG must
also be XML whose root element is ``svg``. The name's extension must belong to the detected
type; a name without an extension leaves the decision to the content (text is then TXT).
`Sniffer` does all of it while the file streams in (see `collector.intake`).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO
from xml.parsers import expat

import orjson
from filetype.types import archive as ft_archive
from filetype.types import image as ft_image
from filetype.types import video as ft_video

from collector.errors import UnsupportedMediaType
from qahub_contract import ATTACHMENT_TYPES

HEAD_BYTES = 8192  # what the magic-byte matchers look at (filetype's own window)
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


_BY_LABEL = {label: FileType(label, mime, exts) for label, (mime, exts) in ATTACHMENT_TYPES.items()}
PNG, JPG, GIF, WEBP = _BY_LABEL["PNG"], _BY_LABEL["JPG"], _BY_LABEL["GIF"], _BY_LABEL["WebP"]
SVG, PDF, TXT, JSON = _BY_LABEL["SVG"], _BY_LABEL["PDF"], _BY_LABEL["TXT"], _BY_LABEL["JSON"]
ZIP, MP4, WEBM = _BY_LABEL["ZIP"], _BY_LABEL["MP4"], _BY_LABEL["WebM"]
ALLOWED: tuple[FileType, ...] = tuple(_BY_LABEL.values())
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


def _magic(head: bytes) -> FileType | None:
    return next((kind for kind, matches in _MAGIC if matches(head)), None)


class Sniffer:
    """Learns a file's type from its bytes as they stream past, keeping none but the first few.

    Feed it every chunk in order, then ask `kind`. The first :data:`HEAD_BYTES` decide a binary
    type; failing that, every chunk is checked as UTF-8 text and for an SVG root element as it
    arrives, so no file is read twice — except one named ``.json``, whose syntax is checked
    in one piece at the end.
    """

    def __init__(self) -> None:
        self._head = bytearray()
        self._head_done = False
        self._magic: FileType | None = None
        self._text = True  # UTF-8 without binary control characters, so far
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._svg = _SvgRoot()

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the file."""
        if self._head_done:
            if self._magic is None:
                self._check_text(chunk)
            return
        self._head += chunk
        if len(self._head) >= HEAD_BYTES:
            self._end_head()

    def _end_head(self) -> None:
        head, self._head = bytes(self._head), bytearray()
        self._head_done = True
        self._magic = _magic(head[:HEAD_BYTES])
        if self._magic is None:
            self._check_text(head)

    def _check_text(self, chunk: bytes) -> None:
        if not self._text:
            return
        if _BINARY_CONTROLS.search(chunk):
            self._text = False
            return
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError:
            self._text = False
            return
        self._svg.feed(chunk)

    def _is_text(self) -> bool:
        if self._text:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._text = False
        return self._text

    def kind(self, file_name: str, content: Callable[[], BinaryIO]) -> FileType:
        """Return the type of the bytes fed, once all are in, or raise 415.

        Args:
            file_name: the display name; its extension must belong to the detected type.
            content: opens the whole file again; called only for a ``.json`` name, as JSON
                is parsed in one piece (it is at most the attachment limit).
        """
        if not self._head_done:
            self._end_head()
        ext = extension_of(file_name)
        if ext and not any(ext in t.extensions for t in ALLOWED):
            raise _refuse(f"'{file_name}' has the extension {ext}, which is not allowed")
        if self._magic is not None:
            if ext and ext not in self._magic.extensions:
                raise _refuse(f"'{file_name}' contains {self._magic.label} data but is named {ext}")
            return self._magic
        if ext and not any(ext in t.extensions for t in TEXT_TYPES):
            raise _refuse(f"'{file_name}' is not a valid {_type_for(ext).label} file")
        if not self._is_text():
            if ext:
                raise _refuse(f"'{file_name}' is named {ext} but is not UTF-8 text")
            raise _refuse(f"'{file_name}' is neither text nor a recognised binary type")
        if ext in JSON.extensions:
            with content() as stream:
                if not _is_json(stream.read()):
                    raise _refuse(f"'{file_name}' is named .json but is not valid JSON")
            return JSON
        if ext in SVG.extensions:
            if not self._svg.is_svg():
                raise _refuse(f"'{file_name}' is named .svg but is not XML with an <svg> root element")
            return SVG
        return TXT


def _type_for(ext: str) -> FileType:
    return next(t for t in ALLOWED if ext in t.extensions)


def _is_json(data: bytes) -> bool:
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


class _SvgRoot:
    """Finds the root element of XML fed chunk by chunk: ``svg`` (SVG namespace or none) or not.

    Parsing stops at the root element, so deep nesting costs nothing; entity declarations
    are refused outright, and external entities are never fetched (expat's default).
    """

    def __init__(self) -> None:
        self._parser: expat.XMLParserType | None = None
        self._root: str | None = None
        self._done = False

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self._done:
            return
        if self._parser is None:
            self._parser = expat.ParserCreate(namespace_separator=" ")
            self._parser.EntityDeclHandler = _refuse_entities
            self._parser.StartElementHandler = self._start
        try:
            self._parser.Parse(chunk, final)
        except _RootFound as found:
            self._root = found.name
            self._done = True
        except (expat.ExpatError, ValueError):
            self._done = True
        if self._done:
            self._parser = None  # nothing more to parse: let it go

    @staticmethod
    def _start(name: str, attrs: object) -> None:
        raise _RootFound(name)

    def is_svg(self) -> bool:
        """Tell whether the root element is ``svg``, once the whole file has been fed."""
        self.feed(b"", final=True)
        if self._root is None:
            return False
        namespace, _, local = self._root.rpartition(" ")
        return local == "svg" and namespace in ("", SVG_NAMESPACE)
