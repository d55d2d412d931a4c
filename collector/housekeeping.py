"""The chores a serving collector does in the background: retry file removals, prune once a day.

`Housekeeper` is one daemon thread, started by ``qahub serve`` and stopped when it stops. Each
minute it removes the files listed for removal that are due (`collector.deletions`); with
``QAHUB_RETENTION_DAYS`` set it also prunes expired runs (`collector.retention`) when it
starts and then every 24 hours. Several processes on one database may all do so: the work is
done once, the others find nothing left.
"""

from __future__ import annotations

import logging
import threading
import time

import peewee

from collector import deletions
from collector.config import MIB, Settings
from collector.retention import prune
from collector.storage import Storage

log = logging.getLogger("collector.housekeeping")

RETRY_EVERY_S = 60.0
PRUNE_EVERY_S = 24 * 3600.0


class Housekeeper:
    """Runs the chores in a thread of its own until stopped; a failed chore is logged and retried."""

    def __init__(
        self,
        settings: Settings,
        db: peewee.Database,
        storage: Storage,
        retry_every_s: float = RETRY_EVERY_S,
        prune_every_s: float = PRUNE_EVERY_S,
    ) -> None:
        self.settings = settings
        self.db = db
        self.storage = storage
        self.retry_every_s = retry_every_s
        self.prune_every_s = prune_every_s
        self.rounds = 0  # finished rounds, for anyone waiting to see one
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qahub-housekeeping", daemon=True)
        self._next_prune = time.monotonic() if settings.retention_days > 0 else None

    @property
    def running(self) -> bool:
        """Whether the thread is running."""
        return self._thread.is_alive()

    def start(self) -> Housekeeper:
        """Start the thread; return self."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop (a prune stops between two batches) and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> Housekeeper:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.retry_every_s)

    def run_once(self) -> None:
        """Do whatever is due now."""
        try:
            with self.db.connection_context():
                removed, failed = deletions.retry_due(self.storage)
                if removed or failed:
                    log.info("Removed %d listed attachment files (%d failed, retried later)", removed, failed)
                if self._next_prune is not None and time.monotonic() >= self._next_prune:
                    self._prune()
                    self._next_prune = time.monotonic() + self.prune_every_s
        except Exception:  # a chore that fails is retried next round; the thread goes on
            log.exception("A background chore failed; it is tried again in %.0f s", self.retry_every_s)
        self.rounds += 1

    def _prune(self) -> None:
        days, keep = self.settings.retention_days, self.settings.retention_keep_last
        report = prune(self.storage, days, keep, stop=self._stop)
        log.info(
            "Retention (QAHUB_RETENTION_DAYS=%d, keep %d per branch): removed %d runs, %d results, "
            "%d attachments (%.1f MiB)%s",
            days,
            keep,
            len(report.runs),
            report.results,
            report.attachments,
            report.attachment_bytes / MIB,
            "; stopped early" if report.stopped else "",
        )
