"""Reads the multipart/form-data body of an upload, handing each ``file`` part to an intake.

The body is read in fixed-size chunks and parsed by ``streaming-form-data``; each file part's
bytes go to the `collector.intake.Intake` as the parser finds them, so memory use does not
depend on file size. A part or a body over its limit stops the reading at once.
"""

from __future__ import annotations

from typing import BinaryIO

from streaming_form_data import StreamingFormDataParser
from streaming_form_data.parser import ParseFailedException, parse_content_boundary
from streaming_form_data.targets import BaseTarget

from collector.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from collector.intake import CHUNK_BYTES, Intake

FIELD = "file"


class _PartTarget(BaseTarget):
    """Hands every ``file`` part to the intake (the parser calls start/finish once per part)."""

    def __init__(self, intake: Intake) -> None:
        super().__init__()
        self.intake = intake

    def on_start(self) -> None:
        self.intake.start(self.multipart_filename)

    def on_data_received(self, chunk: bytes) -> None:
        self.intake.write(chunk)

    def on_finish(self) -> None:
        self.intake.end()


def _boundary_parser(content_type: str | None) -> tuple[StreamingFormDataParser, bytes]:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "multipart/form-data":
        raise UnsupportedMediaType(
            f"Send the files as multipart/form-data (got {content_type or 'no Content-Type'})"
        )
    headers = {"Content-Type": content_type}
    try:
        boundary = parse_content_boundary(headers)
        parser = StreamingFormDataParser(headers)
    except (ParseFailedException, ValueError) as ex:
        raise BadRequest(f"The multipart/form-data Content-Type has no usable boundary: {ex}") from ex
    return parser, b"\r\n--" + boundary + b"--"


def receive_files(
    stream: BinaryIO, content_type: str | None, content_length: int | None, intake: Intake
) -> None:
    """Read a multipart body into ``intake``: its ``file`` parts, each complete, in order.

    Raises:
        UnsupportedMediaType: the body is not multipart/form-data.
        BadRequest: the multipart is broken or truncated, or has no ``file`` part.
        PayloadTooLarge: a file, the number of files or the whole request is over its limit.
    """
    limits = intake.limits
    if content_length is not None and content_length > limits.request_bytes:
        raise PayloadTooLarge(
            f"The request is {content_length} bytes; an upload request may carry at most "
            f"{limits.request_bytes} (up to {limits.file_bytes} bytes per file)"
        )
    parser, ender = _boundary_parser(content_type)
    parser.register(FIELD, _PartTarget(intake))
    ended = _feed(parser, stream, ender, limits.request_bytes)
    if not ended or (intake.files and not intake.files[-1].complete):
        raise BadRequest("The multipart body is truncated: its closing boundary is missing")
    if not intake.files:
        raise BadRequest(f"No '{FIELD}' part in the multipart body; send the file as '{FIELD}'")


def _feed(parser: StreamingFormDataParser, stream: BinaryIO, ender: bytes, request_bytes: int) -> bool:
    """Feed the body to the parser chunk by chunk; tell whether the closing boundary came."""
    total, ended, tail = 0, False, b""
    while chunk := stream.read(CHUNK_BYTES):
        total += len(chunk)
        if total > request_bytes:
            raise PayloadTooLarge(f"The request exceeds {request_bytes} bytes")
        if not ended:
            # The closing delimiter may straddle two chunks; it never occurs inside a part.
            ended = ender in tail + chunk[: len(ender)] or ender in chunk
            tail = chunk[-len(ender) :]
        try:
            parser.data_received(chunk)
        except ParseFailedException as ex:
            raise BadRequest("The multipart body is malformed: broken boundaries or part headers") from ex
        except UnicodeDecodeError as ex:  # the parser decodes part headers as UTF-8
            raise BadRequest("The multipart part headers must be UTF-8 (RFC 7578)") from ex
    return ended
