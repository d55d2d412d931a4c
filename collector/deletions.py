"""Removing stored files without ever losing track of one: a durable list of files to remove.

Rows go first, files after: deleting a run or a result records its files' keys as pending
deletions in the same transaction that deletes the rows, and removes the files once that
transaction has committed. A row therefore never points at a removed file, and a file whose
removal fails (the object store is down, the process dies) stays on the list: it is retried
with growing pauses by every ``qahub serve`` (each minute) and by ``qahub prune``.

An upload records its keys as pending, due a day later, before it stores any file, and the
transaction that inserts its rows takes them off the list: a file stored by a process that died
before its rows were written is removed a day later instead of staying forever.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import peewee

from collector.db import database, is_sqlite, write_transaction
from collector.errors import StorageError
from collector.models import Attachment, PendingDeletion, Result, utcnow
from collector.storage import Storage

log = logging.getLogger("collector.deletions")

#: How long an upload may take before its files count as abandoned (uploads take seconds).
UPLOAD_GRACE = dt.timedelta(days=1)
FIRST_RETRY = dt.timedelta(minutes=1)
LAST_RETRY = dt.timedelta(hours=6)
BATCH = 500


def schedule(keys: Iterable[str], delay: dt.timedelta = dt.timedelta(0)) -> None:
    """Record that these files are to be removed after ``delay`` (inside the caller's transaction)."""
    due = utcnow() + delay
    rows = [{"key": key, "due_at": due} for key in keys]
    for chunk in peewee.chunked(rows, BATCH):
        PendingDeletion.insert_many(chunk).on_conflict(
            conflict_target=[PendingDeletion.key],
            update={PendingDeletion.due_at: due},
        ).execute()


def delete_result_rows(results: peewee.Select) -> list[str]:
    """Delete ``results`` and their attachments, listing the files for removal; return their keys.

    Runs inside the caller's transaction. On PostgreSQL the result rows are locked first, so
    an upload racing with the delete cannot add an attachment (and a file) that the delete
    would not see. SQLite writers are serialised by the write transaction already.
    """
    if not is_sqlite(database):
        database.execute(results.clone().for_update())
    owned = Attachment.result.in_(results)
    keys = [key for (key,) in Attachment.select(Attachment.storage_key).where(owned).tuples()]
    schedule(keys)
    Attachment.delete().where(owned).execute()
    Result.delete().where(Result.id.in_(results)).execute()
    return keys


def cancel(keys: Iterable[str]) -> None:
    """Take files off the list: rows point at them now (inside the transaction that wrote the rows)."""
    for chunk in peewee.chunked(list(keys), BATCH):
        PendingDeletion.delete().where(PendingDeletion.key.in_(chunk)).execute()


def _backoff(attempts: int) -> dt.timedelta:
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LAST_RETRY)


def remove_files(storage: Storage, keys: list[str]) -> int:
    """Remove listed files now and take them off the list; return how many could not be removed.

    Call it after the transaction that listed them has committed. A failure is logged and left
    on the list with its reason, due again after a pause that doubles up to six hours.
    """
    if not keys:
        return 0
    try:
        failed = storage.delete_many(keys)
    except (StorageError, OSError) as ex:
        failed = dict.fromkeys(keys, str(ex))
    removed = [key for key in keys if key not in failed]
    try:
        with write_transaction():
            cancel(removed)
            for key, reason in failed.items():
                _note_failure(key, reason)
    except peewee.DatabaseError as ex:
        # The files are gone or not; the list keeps them either way and a retry sorts it out.
        log.warning("Cannot update the list of files to remove: %s", ex)
    for key, reason in failed.items():
        log.error("Cannot remove attachment file %s (retried later): %s", key, reason)
    return len(failed)


def _note_failure(key: str, reason: str) -> None:
    pending = PendingDeletion.get_or_none(PendingDeletion.key == key)
    attempts = (pending.attempts if pending else 0) + 1
    values = {"due_at": utcnow() + _backoff(attempts), "attempts": attempts, "last_error": reason[:1000]}
    PendingDeletion.insert(key=key, **values).on_conflict(
        conflict_target=[PendingDeletion.key], update=values
    ).execute()


def retry_due(storage: Storage, limit: int = 5000) -> tuple[int, int]:
    """Remove the listed files that are due; return how many were removed and how many failed."""
    removed = failed = 0
    now = utcnow()
    while removed + failed < limit:
        keys = [
            key
            for (key,) in PendingDeletion.select(PendingDeletion.key)
            .where(PendingDeletion.due_at <= now)
            .order_by(PendingDeletion.due_at)
            .limit(min(BATCH, limit - removed - failed))
            .tuples()
        ]
        if not keys:
            break
        failures = remove_files(storage, keys)
        removed, failed = removed + len(keys) - failures, failed + failures
        if failures:
            break  # the storage is struggling: leave the rest for the next round
    return removed, failed


def pending_count() -> int:
    """How many files wait to be removed (due or not)."""
    return PendingDeletion.select().count()
