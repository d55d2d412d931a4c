"""Attachments of results: upload, duplicate check, storage, listing, and deletion with files.

An upload is all or nothing: every file must be complete, within the limits and of an allowed
type (checked as it streams in, `collector.intake`), or the whole upload is refused and no
file stays behind. Files are stored before their rows are inserted, so a row never points at
a missing or half-written file; if the insert fails, the files are removed again. Deleting a
result (or a run, `collector.runs`) removes its rows in one transaction and its files after
that transaction commits; `collector.deletions` keeps the list of files to remove, so none is
forgotten when a removal fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from typing import BinaryIO

import peewee

from collector import deletions, filetypes
from collector.config import MIB, Settings
from collector.db import database, is_sqlite, write_transaction
from collector.errors import BadRequest, NotFound, shorten
from collector.ids import new_id, require_plausible
from collector.intake import Intake, Limits, ReceivedFile
from collector.models import Attachment, Project, Result, Run, utcnow
from collector.storage import Storage

COMPARE_CHUNK = 256 * 1024
#: Times an upload compares its files with ones racing uploads added, before inserting anyway.
COPY_CHECK_ROUNDS = 3
log = logging.getLogger("collector.attachments")

MAX_FILES_PER_REQUEST = 20
#: A request may carry up to this many maximum-size files (plus multipart overhead); the same
#: figure caps the request body at waitress (see `collector.serve.command`).
FULL_FILES_PER_REQUEST = 4
MULTIPART_OVERHEAD = MIB
MAX_NAME_CHARS = 255
DEFAULT_NAME = "file"
# C0 and C1 controls, DEL, and the bidirectional overrides that can disguise an extension.
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def upload_limits(settings: Settings) -> Limits:
    """Return the limits of one upload request under ``settings``."""
    return Limits(
        file_bytes=settings.attachment_max_bytes,
        request_bytes=settings.attachment_max_bytes * FULL_FILES_PER_REQUEST + MULTIPART_OVERHEAD,
        files=MAX_FILES_PER_REQUEST,
    )


def display_name(client_name: str | None) -> str:
    """Turn a client's file name into a safe display name (never used as a path)."""
    name = re.split(r"[/\\]", client_name or "")[-1]
    name = _UNSAFE_CHARS.sub("", name).strip()
    if name in ("", ".", ".."):
        return DEFAULT_NAME
    if len(name) > MAX_NAME_CHARS:
        ext = filetypes.extension_of(name)
        ext = ext if len(ext) <= 16 else ""
        name = name[: MAX_NAME_CHARS - len(ext)] + ext
    return name


def get_result(project: Project, result_id: str) -> Result:
    """Return the project's result ``result_id``; another project's result is 'not found'."""
    require_plausible("Result", result_id)
    result = (
        Result.select(Result.id, Result.run)
        .join(Run)
        .where((Result.id == result_id) & (Run.project == project))
        .first()
    )
    if result is None:
        raise NotFound(f"Result '{shorten(result_id)}' was not found")
    return result


def upload(
    project: Project, result_id: str, receive: Callable[[Intake], None], storage: Storage, limits: Limits
) -> list[Attachment]:
    """Attach every file ``receive`` streams into an intake to a result: all of them, or none.

    ``receive`` is how the files come in: `collector.multipart.receive_files` reads an HTTP
    body, `attach_files` hands over open files. Either way each file goes through the same
    intake (size limit, type, digest, as it streams) and the same storing and duplicate check.
    """
    result = get_result(project, result_id)
    with Intake(storage, limits) as intake:
        receive(intake)
        return _attach(result.id, intake.received(), storage)


def attach_files(
    project: Project,
    result_id: str,
    files: Sequence[tuple[str | None, BinaryIO]],
    storage: Storage,
    limits: Limits,
) -> list[Attachment]:
    """Attach ``(file name, open binary file)`` pairs to a result, each streamed in (no HTTP).

    The same limits, type checks, duplicate check and all-or-nothing rule as an HTTP upload apply.
    """

    def receive(intake: Intake) -> None:
        if not files:
            raise BadRequest("No file to attach")
        for name, source in files:
            intake.add(name, source)

    return upload(project, result_id, receive, storage, limits)


def _attach(result_id: str, files: list[ReceivedFile], storage: Storage) -> list[Attachment]:
    """Type-check received files and store them all, or none."""
    now = utcnow()
    rows = []
    for index, received in enumerate(files):
        name = display_name(received.client_name)
        kind = received.sniffer.kind(name, received.open)
        attachment_id = new_id()
        rows.append(
            Attachment(
                id=attachment_id,
                result=result_id,
                file_name=name,
                mime_type=kind.mime,
                size=received.size,
                storage_key=attachment_id,
                # A microsecond apart, so a request's files list in the order they were sent.
                created_at=now + dt.timedelta(microseconds=index),
            )
        )
    return _store(result_id, rows, files, storage)


def _store(
    result_id: str, rows: list[Attachment], files: list[ReceivedFile], storage: Storage
) -> list[Attachment]:
    """Store the files, then insert their rows; remove the files again if anything fails.

    Returns the attachments in request order: a file the result already holds (same name,
    type and bytes) is answered with the attachment made earlier instead of a second copy.
    """
    keys = [row.storage_key for row in rows]
    with write_transaction():
        # Should this process die before the rows are in, the files are removed a day later.
        deletions.schedule(keys, delay=deletions.UPLOAD_GRACE)
    copies: dict[int, Attachment] = {}
    done = False
    try:
        for row, received in zip(rows, files, strict=True):
            storage.save_from_temp(received.temp_path, row.storage_key)
        digests = [received.digest.hexdigest() for received in files]
        try:
            copies = _insert_new(result_id, rows, digests, storage)
        except peewee.IntegrityError as ex:  # the result was deleted meanwhile
            raise NotFound(f"Result '{shorten(result_id)}' was not found") from ex
        done = True
    finally:
        if not done:
            deletions.remove_files(storage, keys)
    deletions.remove_files(storage, [rows[index].storage_key for index in copies])
    return [copies.get(index, row) for index, row in enumerate(rows)]


def _insert_new(
    result_id: str, rows: list[Attachment], digests: list[str], storage: Storage
) -> dict[int, Attachment]:
    """Insert the rows whose file the result does not hold yet; return the others' earlier copies.

    A client that retries an upload whose answer it never got (a dropped connection, a
    timeout) sends the same file again; answering with the attachment it already made keeps
    retried uploads from duplicating. Comparing the bytes reads every earlier file of the same
    name, type and size (the new files' digests were taken as they came in), which can take
    seconds, so it happens before the write transaction:
    holding SQLite's write lock meanwhile would stall every other writer of every project.
    Inside the transaction only the rows are checked: if an upload racing this one added a
    candidate since, its bytes are compared too (outside again) before inserting.
    """
    compared: set[str] = set()
    copies: dict[int, Attachment] = {}
    for attempt in range(1, COPY_CHECK_ROUNDS + 1):
        candidates = _candidates(result_id, rows, compared)
        _match_copies(rows, digests, candidates, storage, copies)
        compared.update(old.id for old in candidates)
        with write_transaction():
            found = Result.select(Result.id).where(Result.id == result_id)
            if not is_sqlite(database):
                found = found.for_update()  # one upload per result at a time sees earlier copies
            if found.first() is None:
                raise NotFound(f"Result '{shorten(result_id)}' was not found")
            if attempt < COPY_CHECK_ROUNDS and _candidates(result_id, rows, compared):
                continue  # another upload of a same-sized file committed meanwhile: compare it too
            new = [row for index, row in enumerate(rows) if index not in copies]
            Attachment.bulk_create(new)
            deletions.cancel(row.storage_key for row in new)  # the rows hold them now
            return copies
    raise AssertionError("unreachable: the last round always inserts")


def _candidates(result_id: str, rows: list[Attachment], compared: set[str]) -> list[Attachment]:
    """The result's earlier attachments with a new row's name, type and size, not compared yet."""
    metas = {(row.file_name, row.mime_type, row.size) for row in rows}
    earlier = (
        Attachment.select()
        .where((Attachment.result == result_id) & Attachment.size.in_({row.size for row in rows}))
        .order_by(Attachment.created_at, Attachment.id)
    )
    return [
        old for old in earlier if old.id not in compared and (old.file_name, old.mime_type, old.size) in metas
    ]


def _match_copies(
    rows: list[Attachment],
    digests: list[str],
    candidates: list[Attachment],
    storage: Storage,
    copies: dict[int, Attachment],
) -> None:
    """Add to ``copies`` each unmatched row whose bytes equal a candidate's (each used once)."""
    used = {old.id for old in copies.values()}
    read: dict[str, str | None] = {}  # each candidate's digest, read once

    def digest_of(old: Attachment) -> str | None:
        if old.id not in read:
            read[old.id] = _digest(storage, old.storage_key)
        return read[old.id]

    for index, row in enumerate(rows):
        if index in copies:
            continue
        for old in candidates:
            same_meta = (old.file_name, old.mime_type, old.size) == (row.file_name, row.mime_type, row.size)
            if same_meta and old.id not in used and digest_of(old) == digests[index]:
                copies[index] = old
                used.add(old.id)
                break


def _digest(storage: Storage, key: str) -> str | None:
    """The SHA-256 of a stored file, read a chunk at a time; None when the file has vanished."""
    digest = hashlib.sha256()
    try:
        with storage.open(key) as stored:
            while chunk := stored.read(COMPARE_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return None  # an earlier row whose file vanished is no copy of anything
    return digest.hexdigest()


def list_attachments(project: Project, result_id: str) -> list[Attachment]:
    """Return a result's attachments, oldest first."""
    result = get_result(project, result_id)
    query = Attachment.select().where(Attachment.result == result.id)
    return list(query.order_by(Attachment.created_at, Attachment.id))


def get_attachment(project: Project, attachment_id: str) -> Attachment:
    """Return the project's attachment ``attachment_id``; another project's is 'not found'."""
    require_plausible("Attachment", attachment_id)
    attachment = (
        Attachment.select(Attachment)
        .join(Result)
        .join(Run)
        .where((Attachment.id == attachment_id) & (Run.project == project))
        .first()
    )
    if attachment is None:
        raise NotFound(f"Attachment '{shorten(attachment_id)}' was not found")
    return attachment


def open_attachment(storage: Storage, attachment: Attachment) -> BinaryIO:
    """Open an attachment's bytes; a row whose file has vanished is reported as not found.

    Raises:
        NotFound: the file is missing.
        StorageError: the storage cannot be read now (503).
    """
    try:
        return storage.open(attachment.storage_key)
    except FileNotFoundError as ex:
        log.error("Attachment %s has no file (storage key %s)", attachment.id, attachment.storage_key)
        raise NotFound(f"The file of attachment '{attachment.id}' is missing") from ex


def delete_result(project: Project, result_id: str, storage: Storage) -> None:
    """Delete a result with its attachments; remove the files once committed."""
    with write_transaction():
        result = get_result(project, result_id)
        keys = deletions.delete_result_rows(Result.select(Result.id).where(Result.id == result.id))
    deletions.remove_files(storage, keys)
