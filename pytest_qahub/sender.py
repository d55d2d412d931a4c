"""The background sender: drains a queue of journaled results and posts them in batches.

Tests never wait on it. It sends when a batch is full or a result has waited
`interval` seconds; after a failure that may pass (connection, 5xx, 429 beyond the
retries) it pauses for `cooldown` seconds. It never raises: what it cannot deliver
stays in the journal for ``qahub replay``.
"""

from __future__ import annotations

import math
import queue
import threading
import time

from .delivery import Delivery, DeliveryStats, send_all
from .errors import TRANSIENT_ERRORS
from .journal import Entry


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
        self._queue: queue.SimpleQueue[Entry | None] = queue.SimpleQueue()
        self._pending: list[Entry] = []  # touched by the sender thread only
        self._submitted = 0
        self._failed = 0
        self._due = math.inf
        self._retry_at = 0.0
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

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def submit(self, entry: Entry) -> None:
        """Queue a journaled result; returns at once."""
        self._submitted += 1
        self._queue.put(entry)

    def flush(self, timeout: float) -> bool:
        """Send what is left, waiting at most timeout seconds; True if the thread finished.

        After the timeout the thread is told to stop after its current request; what it
        has not delivered stays in the journal.
        """
        self._flushing.set()
        self._queue.put(None)  # wake the thread
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stopping.set()
            return False
        return True

    def _run(self) -> None:
        while not self._stopping.is_set():
            flushing = self._flushing.is_set()
            self._collect(0.0 if flushing else self._wait_time())
            if not self._pending:
                if flushing:
                    return
                continue
            now = time.monotonic()
            if not flushing and now < self._retry_at:
                continue
            if flushing or len(self._pending) >= self._batch_size or now >= self._due:
                # A full batch goes at once; a partial one waits for its time or the flush.
                delivered = self._send(full_only=not flushing and now < self._due)
                if flushing and not delivered:
                    return  # give up for this session; the journal keeps the rest

    def _wait_time(self) -> float:
        """Seconds to block on the queue before something is due."""
        now = time.monotonic()
        if not self._pending:
            return 0.5
        due = self._retry_at if len(self._pending) >= self._batch_size else self._due
        return max(0.0, max(due, self._retry_at) - now)

    def _collect(self, timeout: float) -> None:
        """Move queued entries to pending, blocking up to timeout for the first one."""
        try:
            item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            while True:
                if item is not None:
                    if not self._pending:
                        self._due = time.monotonic() + self._interval
                    self._pending.append(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            return

    def _send(self, full_only: bool) -> bool:
        """Send pending batches one by one; False when one could not be delivered."""
        while self._pending and not self._stopping.is_set():
            if full_only and len(self._pending) < self._batch_size:
                return True
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
                self._failed += len(self._pending)
                self._pending = []
            return False
        if not self._pending:
            self._due = math.inf
        return not self._pending
