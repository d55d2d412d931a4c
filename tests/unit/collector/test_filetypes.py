"""Unit tests of type detection: content decides, and the name's extension must agree."""

from __future__ import annotations

import io

import pytest

from collector import filetypes
from collector.errors import UnsupportedMediaType
from collector.intake import CHUNK_BYTES
from tests.collector import attachment_samples as samples


def detect(data: bytes, name: str, chunk: int = CHUNK_BYTES) -> filetypes.FileType:
    """Sniff ``data`` fed in pieces of ``chunk`` bytes, as an upload streams in."""
    sniffer = filetypes.Sniffer()
    for start in range(0, len(data), chunk):
        sniffer.feed(data[start : start + chunk])
    return sniffer.kind(name, lambda: io.BytesIO(data))


def refusal(data: bytes, name: str) -> str:
    with pytest.raises(UnsupportedMediaType) as caught:
        detect(data, name)
    assert "Allowed types: PNG (.png); JPG (.jpg, .jpeg)" in caught.value.message
    return caught.value.message


@pytest.mark.parametrize(("name", "data", "mime"), samples.ALLOWED_SAMPLES, ids=lambda v: str(v)[:20])
def test_it_recognises_every_allowed_type_from_a_minimal_file(name: str, data: bytes, mime: str) -> None:
    assert detect(data, name).mime == mime


@pytest.mark.parametrize(("name", "data", "mime"), samples.ALLOWED_SAMPLES, ids=lambda v: str(v)[:20])
def test_the_type_is_the_same_whatever_pieces_the_bytes_arrive_in(name: str, data: bytes, mime: str) -> None:
    assert {detect(data, name, chunk).mime for chunk in (1, 7, 4096)} == {mime}


def test_the_allowed_types_are_exactly_the_seeds_eleven() -> None:
    labels = [t.label for t in filetypes.ALLOWED]
    assert labels == ["PNG", "JPG", "GIF", "WebP", "SVG", "PDF", "TXT", "JSON", "ZIP", "MP4", "WebM"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("PHOTO.PNG", samples.png()),
        ("Shot.Jpeg", samples.jpeg()),
        ("archive.ZIP", samples.zip_archive()),
        ("x.exe.png", samples.png()),
    ],
)
def test_extensions_are_case_insensitive_and_only_the_last_counts(name: str, data: bytes) -> None:
    assert detect(data, name) in filetypes.ALLOWED


def test_a_name_without_extension_leaves_the_decision_to_the_content() -> None:
    assert detect(samples.png(), "screenshot") is filetypes.PNG
    assert detect(samples.JSON, "output") is filetypes.TXT
    assert detect(samples.SVG, "file") is filetypes.TXT  # served as text, never as active SVG


def test_json_and_svg_named_txt_are_plain_text() -> None:
    assert detect(samples.JSON, "data.txt") is filetypes.TXT
    assert detect(samples.SVG, "drawing.log") is filetypes.TXT


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("setup.exe", samples.EXE, "extension .exe"),
        ("setup", samples.EXE, "neither text nor"),
        ("screenshot.png", samples.EXE, "not a valid PNG"),
        ("screenshot.png", samples.HTML, "not a valid PNG"),
        ("page.html", samples.HTML, "extension .html"),
        ("dump.txt", b"\x00\x01\x02binary\xff", "not UTF-8 text"),
        ("latin1.txt", "café".encode("latin-1"), "not UTF-8 text"),
        ("bell.txt", b"ring \x07 ring", "not UTF-8 text"),
        ("screenshot.pdf", samples.png(), "contains PNG data but is named .pdf"),
        ("report.png", samples.pdf(), "contains PDF data but is named .png"),
        ("trace.txt", samples.zip_archive(), "contains ZIP data"),
        ("broken.json", b'{"a": ', "not valid JSON"),
        ("page.svg", samples.HTML, "<svg> root"),
        ("text.svg", b"just words", "<svg> root"),
        ("video.mp4", samples.webm(), "contains WebM data"),
        ("movie.mov", samples.mp4(), "extension .mov"),
        ("fake.gif", b"GIF is a format\n", "not a valid GIF"),
        ("only.jpg", b"\xff\xd8", "not a valid JPG"),
    ],
)
def test_it_refuses_content_that_is_not_allowed_or_disagrees_with_the_name(
    name: str, data: bytes, says: str
) -> None:
    assert says in refusal(data, name)


def test_an_svg_must_have_svg_as_its_root_element_in_the_svg_namespace_or_none() -> None:
    assert detect(b"<svg/>", "a.svg") is filetypes.SVG
    assert detect(b'<svg xmlns="http://www.w3.org/2000/svg"/>', "a.svg") is filetypes.SVG
    refusal(b'<svg xmlns="http://example.com/other"/>', "a.svg")
    refusal(b'<html><svg xmlns="http://www.w3.org/2000/svg"/></html>', "a.svg")


def test_an_svg_declaring_entities_is_refused_before_any_expansion() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><svg>&b;</svg>'
    )
    refusal(bomb, "bomb.svg")


def test_an_svg_with_a_plain_doctype_is_accepted() -> None:
    svg = (
        b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg xmlns="http://www.w3.org/2000/svg"/>'
    )
    assert detect(svg, "inkscape.svg") is filetypes.SVG


def test_text_is_checked_across_chunk_boundaries() -> None:
    # A two-byte character split by the 64 KiB read boundary is still valid UTF-8 ...
    text = b"a" * (CHUNK_BYTES - 1) + "é".encode() + b"\n"
    assert detect(text, "long.txt") is filetypes.TXT
    # ... and a NUL far beyond the first chunk is still found.
    refusal(b"a" * (3 * CHUNK_BYTES) + b"\x00", "long.txt")
    # ... as is a truncated character at the very end.
    refusal(b"a" * 10 + "é".encode()[:1], "cut.txt")


def test_json_with_a_utf8_bom_parses() -> None:
    assert detect(b"\xef\xbb\xbf[1, 2]", "bom.json") is filetypes.JSON


@pytest.mark.parametrize("brand", [b"mp42", b"iso5", b"avc1", b"dash"])
def test_mp4_accepts_the_common_iso_brands(brand: bytes) -> None:
    data = bytearray(samples.mp4())
    data[8:12] = brand
    data[16:28] = brand * 3
    assert detect(bytes(data), "clip.mp4") is filetypes.MP4


def test_a_quicktime_movie_is_not_an_mp4() -> None:
    data = bytearray(samples.mp4())
    data[8:12] = b"qt  "
    data[16:28] = b"qt  " * 3
    refusal(bytes(data), "clip.mp4")


def test_an_empty_zip_archive_is_a_zip() -> None:
    assert detect(samples.zip_archive({}), "empty.zip") is filetypes.ZIP


@pytest.mark.parametrize(
    ("name", "ext"),
    [("a.PNG", ".png"), ("a.tar.gz", ".gz"), ("noext", ""), (".png", ""), ("a.", ""), ("..", "")],
)
def test_extension_of(name: str, ext: str) -> None:
    assert filetypes.extension_of(name) == ext
