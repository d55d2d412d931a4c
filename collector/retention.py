"""Retention: deleting old runs with their results and attachment files, a batch at a time.

A run is expired when it was created more than ``older_than_days`` ago and is not one of the
``keep_last`` newest runs of its group (:data:`GROUP_BY`). Each run goes in short transactions
of at most ``batch_size`` results, so writers (the bulk upsert, uploads) wait for one batch at
most, never for the whole prune; each batch's files are removed once it has committed.

On SQLite the prune also pauses between two batches: a writer waiting for SQLite's lock looks
again only every 100 ms, and a prune that took the lock again at once would starve it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import peewee

from collector import deletions
from collector.config import MIB
from collector.db import database, is_sqlite, write_transaction
from collector.models import Attachment, Project, Result, Run, utcnow
from collector.runs import delete_run_rows
from collector.storage import Storage

#: The columns whose values make one group of runs: the newest ``keep_last`` runs of each are
#: kept. Runs without a branch form one group of their project.
GROUP_BY: tuple[peewee.Field, ...] = (Run.project, Run.branch)
BATCH_SIZE = 500
#: Longer than the 100 ms between two looks of a writer waiting for SQLite's lock.
SQLITE_PAUSE_S = 0.12


@dataclass(frozen=True)
class ExpiredRun:
    """A run a prune removes (or would), with what goes with it."""

    id: str
    project: str
    name: str
    created_at: dt.datetime
    results: int
    attachments: int
    attachment_bytes: int


@dataclass
class PruneReport:
    """What a prune removed, or with ``dry_run`` would remove."""

    cutoff: dt.datetime
    dry_run: bool
    runs: list[ExpiredRun] = field(default_factory=list)
    #: Files whose removal failed; they stay listed and are retried (see `collector.deletions`).
    files_failed: int = 0
    #: Files of earlier deletions that were due for another try and are now gone.
    files_retried: int = 0
    stopped: bool = False

    @property
    def results(self) -> int:
        return sum(run.results for run in self.runs)

    @property
    def attachments(self) -> int:
        return sum(run.attachments for run in self.runs)

    @property
    def attachment_bytes(self) -> int:
        return sum(run.attachment_bytes for run in self.runs)


def expired_runs(
    older_than_days: float, keep_last: int = 0, project: Project | None = None, now: dt.datetime | None = None
) -> list[Run]:
    """Return the runs a prune removes, oldest first."""
    cutoff = (now or utcnow()) - dt.timedelta(days=older_than_days)
    newer = (
        peewee.fn.ROW_NUMBER()
        .over(partition_by=list(GROUP_BY), order_by=[Run.created_at.desc(), Run.id.desc()])
        .alias("newer")
    )
    ranked = Run.select(Run.id, newer)
    if project is not None:
        ranked = ranked.where(Run.project == project)
    ranked = ranked.alias("ranked")
    query = (
        Run.select(Run, Project.key)
        .join(ranked, on=(Run.id == ranked.c.id))
        .switch(Run)
        .join(Project)
        .where((Run.created_at < cutoff) & (ranked.c.newer > keep_last))
        .order_by(Run.created_at, Run.id)
    )
    return list(query)


def _describe(run: Run) -> ExpiredRun:
    results = Result.select(Result.id).where(Result.run == run.id)
    files = Attachment.select(
        peewee.fn.COUNT(Attachment.id), peewee.fn.COALESCE(peewee.fn.SUM(Attachment.size), 0)
    ).where(Attachment.result.in_(results))
    count, size = files.tuples().get()
    return ExpiredRun(
        id=run.id,
        project=run.project.key,
        name=run.name,
        created_at=run.created_at,
        results=results.count(),
        attachments=int(count),
        attachment_bytes=int(size),
    )


def prune(
    storage: Storage,
    older_than_days: float,
    keep_last: int = 0,
    *,
    dry_run: bool = False,
    project: Project | None = None,
    batch_size: int = BATCH_SIZE,
    stop: threading.Event | None = None,
    on_run: Callable[[ExpiredRun], None] | None = None,
    on_batch: Callable[[], None] | None = None,
) -> PruneReport:
    """Delete expired runs with their results and files (or, with ``dry_run``, only list them).

    ``on_run`` hears of each run once it is gone (or would be); ``on_batch`` after each
    committed batch. Setting ``stop`` ends the prune between two batches.
    """
    now = utcnow()
    report = PruneReport(cutoff=now - dt.timedelta(days=older_than_days), dry_run=dry_run)
    if not dry_run:
        report.files_retried, failed = deletions.retry_due(storage)
        report.files_failed += failed
    for run in expired_runs(older_than_days, keep_last, project, now):
        if stop is not None and stop.is_set():
            report.stopped = True
            break
        expired = _describe(run)
        if not dry_run and not _delete_run(storage, run.id, batch_size, report, stop, on_batch):
            report.stopped = True
            break
        report.runs.append(expired)
        if on_run is not None:
            on_run(expired)
    return report


def _delete_run(
    storage: Storage,
    run_id: str,
    batch_size: int,
    report: PruneReport,
    stop: threading.Event | None,
    on_batch: Callable[[], None] | None,
) -> bool:
    """Delete a run's results a batch per transaction, then the run; tell whether it is gone."""
    pause = SQLITE_PAUSE_S if is_sqlite(database) else 0.0
    stop = stop or threading.Event()
    while True:
        if stop.is_set():
            return False
        with write_transaction():
            batch = [
                result_id
                for (result_id,) in Result.select(Result.id)
                .where(Result.run == run_id)
                .order_by(Result.id)
                .limit(batch_size)
                .tuples()
            ]
            if not batch:
                # Results written meanwhile go with the run, in the same transaction.
                keys = delete_run_rows(run_id)
            else:
                keys = deletions.delete_result_rows(Result.select(Result.id).where(Result.id.in_(batch)))
        report.files_failed += deletions.remove_files(storage, keys)
        if on_batch is not None:
            on_batch()
        if not batch:
            return True
        stop.wait(pause)  # let writers that queued for the lock in


def _when(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def describe_run(run: ExpiredRun, dry_run: bool) -> str:
    """One line saying which run a prune removed (or would)."""
    verb = "would remove" if dry_run else "removed"
    return (
        f"{verb} run {run.id} {run.name!r} (project {run.project}, created {_when(run.created_at)} UTC): "
        f"{run.results} results, {run.attachments} attachments ({run.attachment_bytes / MIB:.1f} MiB)"
    )


def summarise(report: PruneReport, keep_last: int) -> list[str]:
    """The closing lines of a prune: totals, and what is left to do."""
    kept = f", keeping the {keep_last} newest runs of each branch" if keep_last else ""
    before = f"created before {_when(report.cutoff)} UTC{kept}"
    if not report.runs and not report.stopped:
        lines = [f"Nothing to prune: no run {before}."]
    else:
        verb = "Would remove" if report.dry_run else "Removed"
        lines = [
            f"{verb} {len(report.runs)} runs {before}: {report.results} results, "
            f"{report.attachments} attachments ({report.attachment_bytes / MIB:.1f} MiB)"
            + (" (dry run: nothing was deleted)." if report.dry_run else ".")
        ]
    if report.stopped:
        lines.append("Stopped before the end; the next prune goes on where this one stopped.")
    if report.files_retried:
        lines.append(f"Removed {report.files_retried} files left over from earlier deletions.")
    if report.files_failed:
        lines.append(
            f"{report.files_failed} files could not be removed now; they stay listed and are "
            "retried by qahub serve and the next qahub prune (the log says why)."
        )
    return lines
