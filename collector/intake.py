"""Receiving an upload's files: each streams into a temporary file of the storage, checked as it goes.

Both ways in use it: the multipart body of ``POST /results/{id}/attachments`` (`collector.multipart`
hands over each part's bytes as the parser finds them) and the embedded collector's open files
(`Intake.add`). While a file streams, its size is held to the limit, its type is sniffed
(`collector.filetypes.Sniffer`) and its digest taken for the duplicate check, so only one chunk
of it is ever in memory and nothing reads it again. Whatever goes wrong, closing the intake
leaves no temporary file behind.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import suppress
from dataclasses import dataclass, field
from typing import BinaryIO

from collector.errors import BadRequest, PayloadTooLarge, StorageError
from collector.filetypes import Sniffer
from collector.storage import Storage

log = logging.getLogger("collector.intake")

CHUNK_BYTES = 64 * 1024
_LABEL_CHARS = 100


def _label(client_name: str | None) -> str:
    """Name a file in a message, briefly (the name is the client's, unchecked)."""
    name = client_name or "file"
    return name if len(name) <= _LABEL_CHARS else name[:_LABEL_CHARS] + "…"


@dataclass(frozen=True)
class Limits:
    """How much one upload request may carry."""

    file_bytes: int
    request_bytes: int
    files: int


@dataclass
class ReceivedFile:
    """One file of an upload: the client's name for it, where its bytes wait, what they are."""

    client_name: str | None
    temp_path: str
    size: int = 0
    complete: bool = False
    sniffer: Sniffer = field(default_factory=Sniffer, repr=False)
    digest: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)

    def open(self) -> BinaryIO:
        """Open the received bytes again (the JSON check parses a file in one piece)."""
        return open(self.temp_path, "rb")


class Intake:
    """The files of one upload as they arrive, one at a time, each into a temporary file.

    Push a file's bytes with `start`, `write` and `end`, or hand over an open file with `add`.
    Use it as a context manager: leaving it closes and removes every temporary file still there.
    """

    def __init__(self, storage: Storage, limits: Limits) -> None:
        self.storage = storage
        self.limits = limits
        self.files: list[ReceivedFile] = []
        self._handle: BinaryIO | None = None

    def start(self, client_name: str | None) -> None:
        """Begin the next file."""
        if len(self.files) >= self.limits.files:
            raise PayloadTooLarge(f"At most {self.limits.files} files may be sent in one request")
        self._handle = self.storage.create_temp()
        self.files.append(ReceivedFile(client_name, self._handle.name))

    def write(self, chunk: bytes) -> None:
        """Take the next bytes of the current file."""
        received, limit = self.files[-1], self.limits.file_bytes
        received.size += len(chunk)
        if received.size > limit:
            raise PayloadTooLarge(
                f"'{_label(received.client_name)}' exceeds the limit of {limit} bytes per file"
            )
        try:
            self._handle.write(chunk)
        except OSError as ex:  # a full or failing disk is the server's problem, not the client's
            raise _unavailable(ex) from ex
        received.sniffer.feed(chunk)
        received.digest.update(chunk)

    def end(self) -> None:
        """Finish the current file."""
        try:
            self._close_handle()
        except OSError as ex:
            raise _unavailable(ex) from ex
        self.files[-1].complete = True

    def add(self, client_name: str | None, source: BinaryIO) -> None:
        """Stream an open binary file in, a chunk at a time."""
        self.start(client_name)
        while chunk := source.read(CHUNK_BYTES):
            self.write(chunk)
        self.end()

    def received(self) -> list[ReceivedFile]:
        """Return the files, once all are in, refusing an empty one."""
        for received in self.files:
            if received.size == 0:
                raise BadRequest(f"'{_label(received.client_name)}' is empty")
        return self.files

    def _close_handle(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.close()

    def close(self) -> None:
        """Close the open file, if any, and remove every temporary file still there."""
        with suppress(OSError):  # the file is removed next either way
            self._close_handle()
        for received in self.files:
            self.storage.discard_temp(received.temp_path)

    def __enter__(self) -> Intake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unavailable(ex: OSError) -> StorageError:
    log.error("Cannot write an upload's temporary file: %s", ex.strerror or ex)
    return StorageError()
