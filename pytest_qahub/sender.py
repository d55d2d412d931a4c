"""The background sender: takes journaled results and posts them in batches.

Attachments follow their results: once a result's upsert answered with its id, the
sender uploads that code's files.

Tests never wait on it. It wakes when a batch is full and every `interval` seconds,
and sends what has arrived; after a failure that may pass (connection, 5xx, 429
beyond the retries) it pauses for `cooldown` seconds. It never raises: what it
cannot deliver stays in the journal for ``qahub replay``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from .delivery import Delivery, DeliveryStats, send_all
from .errors import TRANSIENT_ERRORS
from .journal import AttachmentEntry, Entry


class Sender:
    """Owns a daemon thread that delivers journal entries."""

    def __init__(
        self,
        delivery: Delivery,
        *,
        batch_size: int,
        interval: float = 1.0,
        cooldown: float = 5.0,
    ) -> None:
        self._delivery = delivery
        self._batch_size = batch_size
        self._interval = interval
        self._cooldown = cooldown
        # The test thread only appends here; waking the sender per result would cost
        # the tests a GIL hand-over each time, so it is woken once per full batch.
        self._inbox: deque[Entry] = deque()
        self._pending: list[Entry] = []  # touched by the sender thread only
        self._submitted = 0
        self._files_inbox: deque[AttachmentEntry] = deque()
        self._files: list[AttachmentEntry] = []  # touched by the sender thread only
        self._files_submitted = 0
        self._retry_at = 0.0
        self._wake = threading.Event()
        self._flushing = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qahub-sender", daemon=True)

    @property
    def stats(self) -> DeliveryStats:
        """Totals so far (sent, rejected, last error)."""
        return self._delivery.stats

    @property
    def undelivered(self) -> int:
        """Results submitted but neither accepted nor rejected by the server."""
        return self._submitted - self.stats.sent - len(self.stats.rejected)

    @property
    def attachments_waiting(self) -> int:
        """Attachments submitted but neither uploaded nor refused."""
        stats = self.stats
        return self._files_submitted - stats.attachments_sent - len(stats.attachments_refused)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def submit(self, entry: Entry) -> None:
        """Queue a journaled result; returns at once."""
        self._submitted += 1
        self._inbox.append(entry)
        if len(self._inbox) >= self._batch_size:
            self._wake.set()

    def submit_attachment(self, entry: AttachmentEntry) -> None:
        """Queue a journaled attachment; it is uploaded once its result has an id."""
        self._files_submitted += 1
        self._files_inbox.append(entry)

    def flush(self, timeout: float, slow: Callable[[], None] | None = None, slow_after: float = 1.0) -> bool:
        """Send what is left, waiting at most timeout seconds; True if the thread finished.

        If it takes longer than ``slow_after`` seconds, ``slow()`` is called once (to say what
        it waits for). After the timeout the thread is told to stop after its current request;
        what it has not delivered stays in the journal.
        """
        self._flushing.set()
        self._wake.set()
        if slow is not None and timeout > slow_after:
            self._thread.join(slow_after)
            if self._thread.is_alive():
                slow()
            timeout -= slow_after
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stopping.set()
            return False
        return True

    def _run(self) -> None:
        while not self._stopping.is_set():
            flushing = self._flushing.is_set()
            if not flushing:
                self._wake.wait(self._interval)
                self._wake.clear()
            while self._inbox:
                self._pending.append(self._inbox.popleft())
            while self._files_inbox:
                self._files.append(self._files_inbox.popleft())
            if not self._pending and not self._files:
                if flushing:
                    return
                continue
            if not flushing and time.monotonic() < self._retry_at:
                continue
            done = self._send() and self._upload()
            if flushing and (not done or self._files):
                return  # give up for this session; the journal keeps the rest

    def _upload(self) -> bool:
        """Upload the attachments whose results have ids; False when one failed."""
        if not self._files:
            return True
        try:
            self._files, error = self._delivery.upload(self._files)
        except OSError as ex:  # the journal could not be written
            self.stats.last_error = f"journal: {ex}"
            self._retry_at = time.monotonic() + self._cooldown
            return False
        if error is None:
            return True
        if isinstance(error, TRANSIENT_ERRORS):
            self._retry_at = time.monotonic() + self._cooldown
        else:
            self._files = []  # the token was refused: the journal keeps them for replay
        return False

    def _send(self) -> bool:
        """Send pending batches one by one; False when one could not be delivered."""
        while self._pending and not self._stopping.is_set():
            batch = self._pending[: self._batch_size]
            try:
                remaining, error = send_all(self._delivery, batch, self._batch_size)
            except OSError as ex:  # the journal could not be written
                self.stats.last_error = f"journal: {ex}"
                self._retry_at = time.monotonic() + self._cooldown
                return False
            self._pending = remaining + self._pending[len(batch) :]
            if error is None:
                continue
            if isinstance(error, TRANSIENT_ERRORS):
                self._retry_at = time.monotonic() + self._cooldown
            else:
                # A permanent refusal (unknown run, completed run, bad request): stop
                # trying this session; the results stay in the journal.
                self._pending = []
            return False
        return not self._pending
