"""Attachments where tests run: files kept under ``.qahub/attachments-pending/`` for the controller.

The process running a test (the only one, or an xdist worker) writes each attachment to a
file in the session's pending folder and records only its path, name and MIME type on the
item. At the teardown that list, and the problems met while collecting it, go with the result
to the reporter (from an xdist worker on the teardown report, ``report.qahub_attachments`` and
``report.qahub_attachment_errors``), which journals them; the delivery process uploads the
files once the result's upsert has given the result id.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from qahub_contract import ATTACHMENT_TYPES

from . import private

ATTACHMENTS_ATTR = "qahub_attachments"
ERRORS_ATTR = "qahub_attachment_errors"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: The collector's allowed types by extension (docs/attachments.md).
MIME_BY_EXTENSION = {
    extension: mime for mime, extensions in ATTACHMENT_TYPES.values() for extension in extensions
}


@dataclass
class ItemEvidence:
    """What one item collected: attachment records and the problems met."""

    files: list[dict[str, str]]
    errors: list[str]


EVIDENCE_KEY = pytest.StashKey[ItemEvidence]()


def evidence(item: pytest.Item) -> ItemEvidence:
    """Return the item's evidence, created on first use."""
    found = item.stash.get(EVIDENCE_KEY, None)
    if found is None:
        found = item.stash[EVIDENCE_KEY] = ItemEvidence([], [])
    return found


def new_session_id() -> str:
    """A name for one session's pending folder (shared by its xdist workers)."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"


def pending_root(root: Path) -> Path:
    """Where every session keeps the files it has not uploaded yet."""
    return root / ".qahub" / "attachments-pending"


def is_png(data: bytes) -> bool:
    """True when data starts like a PNG (signature, then the IHDR chunk)."""
    return data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"


def mime_for(name: str) -> str:
    """The MIME type the collector stores for a file name (octet-stream when unknown)."""
    return MIME_BY_EXTENSION.get(Path(name).suffix.lower(), "application/octet-stream")


def guess_name(data: bytes) -> str:
    """A name for unnamed bytes, from their content (``attachment.png``, ``attachment.txt``)."""
    import filetype  # 8 ms of imports, for the rare unnamed attachment: not at plugin load

    kind = filetype.guess(data[:8192])
    if kind is not None and f".{kind.extension}" in MIME_BY_EXTENSION:
        return f"attachment.{kind.extension}"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "attachment.bin"
    return "attachment.txt"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file name without path separators or odd characters, at most 120 characters."""
    cleaned = _UNSAFE.sub("_", Path(name).name).strip("._") or "attachment"
    stem, suffix = os.path.splitext(cleaned)
    return stem[: 120 - len(suffix)] + suffix


class PendingStore:
    """One session's pending folder; writes files and returns their records."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _target(self, name: str) -> Path:
        private.make_dirs(self.directory)
        return self.directory / f"{secrets.token_hex(6)}-{safe_name(name)}"

    def write(self, nodeid: str, data: bytes, name: str, mime: str | None = None) -> dict[str, str]:
        """Keep bytes; raise OSError when they cannot be written."""
        target = self._target(name)
        with open(private.create_file(target), "wb") as handle:
            handle.write(data)
        return _record(nodeid, target, name, mime)

    def copy(self, nodeid: str, source: Path, name: str, mime: str | None = None) -> dict[str, str]:
        """Keep a copy of a file (the test may delete its own); raise OSError on failure."""
        target = self._target(name)
        with open(source, "rb") as reader, open(private.create_file(target), "wb") as writer:
            shutil.copyfileobj(reader, writer)
        return _record(nodeid, target, name, mime)


def _record(nodeid: str, path: Path, name: str, mime: str | None) -> dict[str, str]:
    return {"nodeid": nodeid, "path": str(path), "name": name, "mime": mime or mime_for(name)}


class Attacher:
    """The ``qahub_attach`` fixture's value: ``qahub_attach(path_or_bytes, name=None, mime=None)``."""

    def __init__(self, item: pytest.Item, store: PendingStore | None) -> None:
        self._item = item
        self._store = store

    def __call__(self, source: Any, name: str | None = None, mime: str | None = None) -> str | None:
        """Attach a file or bytes to this test's result; return the name used.

        Problems writing the copy are reported in the QAHub summary, never raised. Returns
        None when nothing was kept (no QAHub run, or a problem).

        Raises:
            TypeError: source is neither bytes nor a path.
        """
        if isinstance(source, bytes | bytearray | memoryview):
            data: bytes | None = bytes(source)
            path = None
            chosen = name or guess_name(bytes(source))
        elif isinstance(source, str | os.PathLike):
            data, path = None, Path(source)
            chosen = name or path.name
        else:
            raise TypeError(f"qahub_attach takes bytes or a path, not {type(source).__name__}")
        if self._store is None:
            return None
        found = evidence(self._item)
        try:
            if data is not None:
                if not data:
                    raise ValueError("it is empty")
                record = self._store.write(self._item.nodeid, data, chosen, mime)
            else:
                assert path is not None
                record = self._store.copy(self._item.nodeid, path, chosen, mime)
        except (OSError, ValueError) as ex:
            found.errors.append(f"{self._item.nodeid}: could not attach {chosen}: {ex}")
            return None
        found.files.append(record)
        return chosen
