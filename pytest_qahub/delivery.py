"""Send journaled results in one batch and record the outcome; shared by sender and replay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import ClientError, Conflict, PayloadTooLarge, QAHubError
from .journal import Entry, Journal
from .transport import Transport


@dataclass
class DeliveryStats:
    """Running totals of what was sent."""

    sent: int = 0
    #: (test case code, server message) for each rejected result.
    rejected: list[tuple[str, str]] = field(default_factory=list)
    created_cases: int = 0
    last_error: str | None = None


class Delivery:
    """Posts batches of journal entries to one run and marks the journal."""

    def __init__(
        self, transport: Transport, journal: Journal, run_id: str, known_codes: set[str] | None
    ) -> None:
        self.transport = transport
        self.journal = journal
        self.run_id = run_id
        self.stats = DeliveryStats()
        self._known = set(known_codes or ())

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
        self.journal.mark_delivered(delivered)
        self.journal.mark_rejected(rejected)
        self.stats.sent += len(delivered)
        for entry in batch:
            if entry.seq in rejected:
                code = str(entry.payload.get("test_case_code"))
                self.stats.rejected.append((code, rejected[entry.seq]))

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
    delivery: Delivery, entries: Sequence[Entry], batch_size: int
) -> tuple[list[Entry], QAHubError | None]:
    """Send entries in batches until one fails; return what is left and why.

    A 413 halves the batch size and tries again.
    """
    remaining = list(entries)
    size = batch_size
    while remaining:
        try:
            delivery.send(remaining[:size])
        except PayloadTooLarge as ex:
            if size == 1:
                delivery.stats.last_error = str(ex)
                return remaining, ex
            size = max(1, size // 2)
            continue
        except QAHubError as ex:
            delivery.stats.last_error = str(ex)
            return remaining, ex
        remaining = remaining[size:]
    return [], None
