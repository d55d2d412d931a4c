"""What the delivery process has read from the journal and not yet delivered.

The process's loop adds what the journal gains and asks `send_due` to post it: at once when
a batch is full, else every `interval` seconds. After a failure that may pass (connection,
5xx, 429 beyond the retries) nothing is sent for `cooldown` seconds; after a permanent refusal
(an unknown or COMPLETED run, a refused token) what it read so far is dropped. Attachments follow
their results: once a result's upsert answered with its id, that code's files are uploaded.
It never raises: what it cannot deliver stays in the journal for ``qahub replay``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import TRANSIENT_ERRORS
from ..journal import AttachmentEntry, Entry
from .batches import Batches, DeliveryStats, send_all


class Outbox:
    """Journal entries waiting to be sent, and when to send them."""

    def __init__(
        self,
        batches: Batches,
        *,
        batch_size: int,
        interval: float = 1.0,
        cooldown: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._batches = batches
        self._batch_size = batch_size
        self._interval = interval
        self._cooldown = cooldown
        self._clock = clock
        self._pending: list[Entry] = []
        self._files: list[AttachmentEntry] = []
        self._added = 0
        self._files_added = 0
        self._next_send = clock() + interval
        self._retry_at = 0.0
        #: Set (from another thread) to stop between two requests: the session's time is up.
        self.stopping = False

    @property
    def stats(self) -> DeliveryStats:
        """Totals so far (sent, rejected, last error)."""
        return self._batches.stats

    @property
    def undelivered(self) -> int:
        """Results added but neither accepted nor rejected by the collector."""
        return self._added - self.stats.sent - len(self.stats.rejected)

    @property
    def attachments_waiting(self) -> int:
        """Attachments added but neither uploaded nor refused."""
        stats = self.stats
        return self._files_added - stats.attachments_sent - len(stats.attachments_refused)

    def add(self, entries: list[Entry], files: list[AttachmentEntry]) -> None:
        """Take what the journal gained."""
        self._pending.extend(entries)
        self._files.extend(files)
        self._added += len(entries)
        self._files_added += len(files)

    def send_due(self) -> None:
        """Send if a batch is full or the interval has passed, unless cooling down after a failure."""
        if not self._pending and not self._files:
            return
        now = self._clock()
        if now < self._retry_at or (len(self._pending) < self._batch_size and now < self._next_send):
            return
        self._next_send = now + self._interval
        self._send() and self._upload()

    def flush(self) -> bool:
        """Send what is left, once, cooldown or not; True when nothing is left to send."""
        if self._pending or self._files:
            self._send() and self._upload()
        return not self._pending and not self._files

    def _send(self) -> bool:
        """Send pending batches one by one; False when one could not be delivered."""
        while self._pending and not self.stopping:
            batch = self._pending[: self._batch_size]
            try:
                remaining, error = send_all(self._batches, batch, self._batch_size)
            except OSError as ex:  # the journal could not be written
                self.stats.last_error = f"journal: {ex}"
                self._retry_at = self._clock() + self._cooldown
                return False
            self._pending = remaining + self._pending[len(batch) :]
            if error is None:
                continue
            if isinstance(error, TRANSIENT_ERRORS):
                self._retry_at = self._clock() + self._cooldown
            else:
                # A permanent refusal (unknown run, completed run, bad request): stop trying
                # what was read so far; the results stay in the journal.
                self._pending = []
            return False
        return not self._pending

    def _upload(self) -> bool:
        """Upload the attachments whose results have ids; False when one failed."""
        if not self._files or self.stopping:
            return not self._files
        try:
            self._files, error = self._batches.upload(self._files)
        except OSError as ex:  # the journal could not be written
            self.stats.last_error = f"journal: {ex}"
            self._retry_at = self._clock() + self._cooldown
            return False
        if error is None:
            return True
        if isinstance(error, TRANSIENT_ERRORS):
            self._retry_at = self._clock() + self._cooldown
        else:
            self._files = []  # the token was refused: the journal keeps them for replay
        return False
