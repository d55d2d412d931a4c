"""Post journaled results in batches, then their attachments, and mark the journal.

Used by the delivery process (through its outbox) and by ``qahub replay``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import (
    TRANSIENT_ERRORS,
    AuthError,
    ClientError,
    Conflict,
    PayloadTooLarge,
    QAHubError,
    ServerError,
)
from ..journal import AttachmentEntry, Entry, Journal
from .transport import Attachment, Transport


@dataclass
class DeliveryStats:
    """Running totals of what was sent."""

    sent: int = 0
    #: (test case code, server message) for each rejected result.
    rejected: list[tuple[str, str]] = field(default_factory=list)
    created_cases: int = 0
    last_error: str | None = None
    attachments_sent: int = 0
    #: (test case code, file name, reason) for each attachment that will never be uploaded.
    attachments_refused: list[tuple[str, str, str]] = field(default_factory=list)


class Batches:
    """Posts batches of journal entries to one run, uploads their files, marks the journal."""

    def __init__(
        self, transport: Transport, journal: Journal, run_id: str, known_codes: set[str] | None
    ) -> None:
        self.transport = transport
        self.journal = journal
        self.run_id = run_id
        self.stats = DeliveryStats()
        self._known = set(known_codes or ())
        #: test case code -> result id, from the upserts' answers.
        self.result_ids: dict[str, str] = {}
        #: codes whose results were rejected: their attachments have no result to go to.
        self.rejected_codes: set[str] = set()

    def send(self, batch: Sequence[Entry]) -> None:
        """Post one batch and record accepted and rejected items.

        Raises:
            QAHubError: Nothing of the batch was delivered; the journal is unchanged.
        """
        self.journal.sync()  # durable before it leaves the machine
        self._create_cases(batch)
        outcome = self.transport.post_results(self.run_id, [entry.payload for entry in batch])
        rejected: dict[int, str] = {}
        for error in outcome.errors:
            if not isinstance(error, dict):
                continue
            index = error.get("index")
            if isinstance(index, int) and 0 <= index < len(batch):
                rejected[batch[index].seq] = str(error.get("message", "rejected"))
        delivered = [entry.seq for entry in batch if entry.seq not in rejected]
        ids = {
            str(item["test_case_code"]): str(item["id"])
            for item in outcome.accepted
            if isinstance(item, dict) and item.get("test_case_code") and item.get("id")
        }
        self.journal.mark_delivered(delivered, ids)
        self.journal.mark_rejected(rejected)
        self.result_ids.update(ids)
        self.stats.sent += len(delivered)
        for entry in batch:
            if entry.seq in rejected:
                code = str(entry.payload.get("test_case_code"))
                self.stats.rejected.append((code, rejected[entry.seq]))
                self.rejected_codes.add(code)

    def upload(self, entries: Sequence[AttachmentEntry]) -> tuple[list[AttachmentEntry], QAHubError | None]:
        """Upload the attachments whose result id is known, one file per request.

        Returns the entries still waiting (no result id yet, or after a failure that may
        pass) and that failure. A refusal (413, 415, a missing file, a rejected result)
        is journaled as final and reported; uploaded and refused files are removed.
        """
        waiting: list[AttachmentEntry] = []
        for index, entry in enumerate(entries):
            if entry.code in self.rejected_codes and entry.code not in self.result_ids:
                self._refuse(entry, "its result was rejected")
                continue
            result_id = self.result_ids.get(entry.code)
            if result_id is None:
                waiting.append(entry)
                continue
            path = Path(entry.path)
            try:
                path.open("rb").close()
            except OSError as ex:  # the file: gone, or unreadable
                self._refuse(entry, f"cannot read {entry.path}: {ex.strerror or ex}")
                continue
            try:
                self.transport.upload_attachment(result_id, [Attachment(entry.name, path, entry.mime)])
            except OSError as ex:  # readable a moment ago: a local failure that may pass
                error = ServerError(503, None, f"attachment {entry.name}: {ex.strerror or ex}")
                self.stats.last_error = str(error)
                return waiting + list(entries[index:]), error
            except (*TRANSIENT_ERRORS, AuthError) as ex:
                # May pass later (or with another token at replay): keep it and stop here.
                self.stats.last_error = f"attachment {entry.name}: {ex}"
                return waiting + list(entries[index:]), ex
            except ClientError as ex:
                self._refuse(entry, str(ex))
                continue
            self.journal.mark_attachments_done([entry.seq])
            self.stats.attachments_sent += 1
            _remove(entry.path)
        return waiting, None

    def _refuse(self, entry: AttachmentEntry, reason: str) -> None:
        self.journal.mark_attachments_refused({entry.seq: reason})
        self.stats.attachments_refused.append((entry.code, entry.name, reason))
        _remove(entry.path)

    def _create_cases(self, batch: Sequence[Entry]) -> None:
        """Create the cases that unmapped results asked for (an existing code is fine)."""
        for entry in batch:
            code = entry.payload.get("test_case_code")
            if not entry.create_title or not code or code in self._known:
                continue
            try:
                self.transport.create_case(code, entry.create_title)
                self.stats.created_cases += 1
            except Conflict:
                self._known.add(code)  # created earlier (another session, a retried request)
            except ClientError as ex:
                # Its results will come back rejected (unknown code), with the reason.
                self.stats.last_error = f"could not create test case {code!r}: {ex}"
            else:
                self._known.add(code)


def send_all(
    batches: Batches, entries: Sequence[Entry], batch_size: int
) -> tuple[list[Entry], QAHubError | None]:
    """Send entries in batches until one fails; return what is left and why.

    A 413 halves the batch size and tries again.
    """
    remaining = list(entries)
    size = batch_size
    while remaining:
        try:
            batches.send(remaining[:size])
        except PayloadTooLarge as ex:
            if size == 1:
                batches.stats.last_error = str(ex)
                return remaining, ex
            size = max(1, size // 2)
            continue
        except QAHubError as ex:
            batches.stats.last_error = str(ex)
            return remaining, ex
        remaining = remaining[size:]
    return [], None


def _remove(path: str) -> None:
    """Remove a pending file and its session folder once empty; a leftover is harmless."""
    file = Path(path)
    try:
        file.unlink(missing_ok=True)
    except OSError:
        return  # settled in the journal already; a leftover file is only clutter
    with contextlib.suppress(OSError):  # the folder still holds other pending files
        file.parent.rmdir()
