"""Streams a multipart/form-data body (or local files) into temporary files, one per file.

The body is read in fixed-size chunks and parsed by ``streaming-form-data``; each file part
goes straight to a temp file of the storage, so memory use does not depend on file size. A
part over the limit stops the reading at once. Whatever goes wrong, no temp file survives.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from streaming_form_data import StreamingFormDataParser
from streaming_form_data.parser import ParseFailedException, parse_content_boundary
from streaming_form_data.targets import BaseTarget

from collector.errors import BadRequest, PayloadTooLarge, StorageError, UnsupportedMediaType
from collector.storage import Storage

log = logging.getLogger("collector.multipart")

CHUNK_BYTES = 64 * 1024
FIELD = "file"
_LABEL_CHARS = 100


def _label(client_name: str | None) -> str:
    """Name a part in a message, briefly (the name is the client's, unchecked)."""
    name = client_name or FIELD
    return name if len(name) <= _LABEL_CHARS else name[:_LABEL_CHARS] + "…"


@dataclass
class FilePart:
    """One received ``file`` part: the client's file name and where its bytes wait."""

    client_name: str | None
    temp_path: str
    size: int = 0
    complete: bool = False


@dataclass(frozen=True)
class Limits:
    """How much one upload request may carry."""

    file_bytes: int
    request_bytes: int
    files: int


class _FileTarget(BaseTarget):
    """Receives every ``file`` part in turn (the parser calls start/finish once per part)."""

    def __init__(self, storage: Storage, limits: Limits) -> None:
        super().__init__()
        self.storage = storage
        self.limits = limits
        self.parts: list[FilePart] = []
        self._handle: BinaryIO | None = None

    def on_start(self) -> None:
        if len(self.parts) >= self.limits.files:
            raise PayloadTooLarge(f"At most {self.limits.files} files may be sent in one request")
        self._handle = self.storage.create_temp()
        self.parts.append(FilePart(self.multipart_filename, self._handle.name))

    def on_data_received(self, chunk: bytes) -> None:
        part = self.parts[-1]
        part.size += len(chunk)
        if part.size > self.limits.file_bytes:
            raise PayloadTooLarge(
                f"'{_label(part.client_name)}' exceeds the limit of {self.limits.file_bytes} bytes per file"
            )
        try:
            self._handle.write(chunk)
        except OSError as ex:  # a full or failing disk is the server's problem, not the client's
            raise _unavailable(ex) from ex

    def on_finish(self) -> None:
        try:
            self.close()
        except OSError as ex:
            raise _unavailable(ex) from ex
        self.parts[-1].complete = True

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _unavailable(ex: OSError) -> StorageError:
    log.error("Cannot write an upload's temporary file: %s", ex.strerror or ex)
    return StorageError()


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
    stream: BinaryIO, content_type: str | None, content_length: int | None, storage: Storage, limits: Limits
) -> list[FilePart]:
    """Read a multipart body; return its ``file`` parts, each complete and non-empty, in order.

    Raises:
        UnsupportedMediaType: the body is not multipart/form-data.
        BadRequest: the multipart is broken or truncated, has no ``file`` part, or an empty one.
        PayloadTooLarge: a file, the number of files or the whole request is over its limit.
    """
    if content_length is not None and content_length > limits.request_bytes:
        raise PayloadTooLarge(
            f"The request is {content_length} bytes; an upload request may carry at most "
            f"{limits.request_bytes} (up to {limits.file_bytes} bytes per file)"
        )
    parser, ender = _boundary_parser(content_type)
    target = _FileTarget(storage, limits)
    parser.register(FIELD, target)
    with _discard_on_error(target, storage):
        ended = _feed(parser, stream, ender, limits)
        if not ended or (target.parts and not target.parts[-1].complete):
            raise BadRequest("The multipart body is truncated: its closing boundary is missing")
        if not target.parts:
            raise BadRequest(f"No '{FIELD}' part in the multipart body; send the file as '{FIELD}'")
        for part in target.parts:
            if part.size == 0:
                raise BadRequest(f"'{_label(part.client_name)}' is empty")
    return target.parts


def _feed(parser: StreamingFormDataParser, stream: BinaryIO, ender: bytes, limits: Limits) -> bool:
    """Feed the body to the parser chunk by chunk; tell whether the closing boundary came."""
    total, ended, tail = 0, False, b""
    while chunk := stream.read(CHUNK_BYTES):
        total += len(chunk)
        if total > limits.request_bytes:
            raise PayloadTooLarge(f"The request exceeds {limits.request_bytes} bytes")
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


@contextmanager
def _discard_on_error(target: _FileTarget, storage: Storage) -> Iterator[None]:
    try:
        yield
    except BaseException:
        target.close()
        for part in target.parts:
            discard(storage, part)
        raise


def spool_files(
    files: Sequence[tuple[str | None, BinaryIO]], storage: Storage, limits: Limits
) -> list[FilePart]:
    """Copy ``(file name, readable stream)`` pairs into temp files under the same limits.

    Raises:
        BadRequest: no file, or an empty one.
        PayloadTooLarge: too many files, or one over the per-file limit.
    """
    if not files:
        raise BadRequest("No file to attach")
    if len(files) > limits.files:
        raise PayloadTooLarge(f"At most {limits.files} files may be sent in one request")
    target = _FileTarget(storage, limits)
    with _discard_on_error(target, storage):
        for name, source in files:
            target.set_multipart_filename(name)
            target.start()
            while chunk := source.read(CHUNK_BYTES):
                target.data_received(chunk)
            target.finish()
            if target.parts[-1].size == 0:
                raise BadRequest(f"'{_label(name)}' is empty")
    return target.parts


def discard(storage: Storage, part: FilePart) -> None:
    """Remove a part's temp file (it is gone already once saved)."""
    storage.discard_temp(os.fspath(part.temp_path))
