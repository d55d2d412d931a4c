"""``qahub replay``: send what journals still hold, and mark it delivered.

Given another collector (``--url``) or run (``--run``) than the journal was written for, it
copies every result of the journal there instead, leaving the journal's own marks alone:
that is how local, embedded results reach a team's collector or the hosted service.

A journal of a session that was to create its run but could not reach the collector names
the run to create; replay creates it (once: the journal records its id). A journal of a
session that was to complete its run has it marked COMPLETED once everything is delivered.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from ..errors import ClientError, QAHubError
from ..journal import Entry, Journal, JournalState, default_directory, load
from .batches import Batches, send_all
from .connect import connect_url
from .transport import Transport

BATCH_SIZE = 100
#: A progress line on large journals: after this many results, or this many seconds.
PROGRESS_RESULTS = 5000
PROGRESS_S = 5.0


def journal_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories to the journals in them; no paths means ``./.qahub/journal``."""
    given = list(paths)
    if not given:
        default = default_directory(Path.cwd())
        given = [default] if default.is_dir() else []
    files: list[Path] = []
    for path in given:
        files.extend(sorted(path.glob("*.jsonl")) if path.is_dir() else [path])
    return files


class _Unmarked:
    """Stands in for the journal when copying: a copy changes none of its marks."""

    def sync(self) -> None:
        pass  # nothing was written

    def mark_delivered(self, seqs: list[int], ids: dict[str, str] | None = None) -> None:
        pass  # delivered to another target than the journal's

    def mark_rejected(self, messages: dict[int, str]) -> None:
        pass  # rejected by another target than the journal's

    def mark_run(self, run_id: str) -> None:
        pass  # a copy goes to a run given on the command line

    def mark_completed(self) -> None:
        pass  # a copy never completes a run

    def close(self) -> None:
        pass  # nothing was opened


def replay(
    paths: list[Path],
    url: str | None,
    token: str | None,
    out: TextIO,
    run_id: str | None = None,
    *,
    verbose: bool = False,
    progress: TextIO | None = None,
    progress_every: int = PROGRESS_RESULTS,
) -> int:
    """Send every journal's undelivered results (or copy all of them elsewhere); return an exit code.

    Safe to run twice: delivered results are marked and skipped, and the server's
    upsert never lets an older result overwrite a newer one. Journals delivered earlier are
    named only when ``verbose``. On a large journal a line goes to ``progress`` every
    ``progress_every`` results or `PROGRESS_S` seconds.

    Returns:
        0 when nothing is left to send, 1 when something could not be delivered or
        was rejected, 2 when a journal cannot be read or has no URL to send to.
    """
    code = 0
    files = journal_files(paths)
    if not files:
        out.write("qahub replay: no journals found\n")
        return 0
    quiet = 0
    for path in files:
        outcome = _replay_one(path, url, token, out, run_id, verbose, progress, progress_every)
        if outcome is None:
            quiet += 1
        else:
            code = max(code, outcome)
    if quiet == len(files):
        journals = "1 journal" if quiet == 1 else f"{quiet} journals"
        out.write(f"qahub replay: nothing to send ({journals}, all delivered earlier)\n")
    return code


def _replay_one(
    path: Path,
    url: str | None,
    token: str | None,
    out: TextIO,
    run_id: str | None,
    verbose: bool,
    progress: TextIO | None,
    progress_every: int,
) -> int | None:
    """Replay one journal; return its exit code, or None when it had nothing to send and said nothing."""
    try:
        state = load(path)
    except (OSError, ValueError) as ex:
        out.write(f"{path}: cannot read: {ex}\n")
        return 2
    target = url or state.url
    run = run_id or state.run_id
    creating = run is None and state.run_name is not None
    if not target or not (run or creating):
        out.write(f"{path}: no URL or run to send to; pass --url and --run\n")
        return 2
    copying = target.rstrip("/") != (state.url or "").rstrip("/") or run != state.run_id
    entries = state.entries if copying else state.pending
    # A copy sends results only: the journal's attachment files belong to its own target.
    files = [] if copying else state.attachments
    completing = state.complete and not state.completed and not copying
    if not entries and not files and not completing:
        if not verbose:
            return None
        out.write(f"{path}: nothing to send ({state.delivered} delivered earlier)\n")
        return 0
    try:
        transport = connect_url(target, token)
    except ClientError as ex:
        out.write(f"{path}: cannot open {target}: {ex.message}\n")
        return 2
    journal = _Unmarked() if copying else Journal.reopen(state)
    try:
        if creating:
            try:
                run = _create_run(transport, journal, state)
            except QAHubError as ex:
                out.write(f"{path}: could not create run {state.run_name!r} at {transport.url}: {ex}\n")
                return 1
            out.write(f"{path}: created run {run} {state.run_name!r} at {transport.url}\n")
        assert run is not None
        batches = Batches(transport, journal, run, known_codes=None)
        label = f"{path}: run {run}"
        remaining, error = _send(batches, entries, progress, label, progress_every)
        if not copying:
            # Ids of results delivered earlier come from the journal; replayed ones from their upsert.
            batches.result_ids = {**state.result_ids, **batches.result_ids}
            batches.rejected_codes |= state.rejected_codes
        files, file_error = batches.upload(files) if files and error is None else (files, None)
        done = not remaining and not files and error is None and file_error is None
        completed = _complete(transport, journal, run) if completing and done else None
    finally:
        journal.close()
        transport.close()
    stats = batches.stats
    out.write(
        f"{path}: run {run} at {transport.url}: {'copied' if copying else 'sent'} {stats.sent}, "
        f"rejected {len(stats.rejected)}, not delivered {len(remaining)}"
        + (
            f"; attachments uploaded {stats.attachments_sent}, refused {len(stats.attachments_refused)}, "
            f"not uploaded {len(files)}"
            if stats.attachments_sent or stats.attachments_refused or files
            else ""
        )
        + "\n"
    )
    for code, message in stats.rejected:
        out.write(f"  rejected {code}: {message}\n")
    for code, name, reason in stats.attachments_refused:
        out.write(f"  attachment {name} of {code} refused: {reason}\n")
    if error is not None:
        out.write(f"  not delivered: {error}\n")
    if file_error is not None:
        out.write(f"  attachments not uploaded: {file_error}\n")
    if completed is not None:
        out.write(f"  run {run} marked COMPLETED\n" if completed is True else f"  {completed}\n")
    return 1 if remaining or stats.rejected or files or isinstance(completed, str) else 0


def _create_run(transport: Transport, journal: Journal | _Unmarked, state: JournalState) -> str:
    """Create the run the session could not, and record its id in the journal."""
    run = str(transport.create_run(state.run_name or "", state.run_tags)["id"])
    journal.mark_run(run)
    return run


def _complete(transport: Transport, journal: Journal | _Unmarked, run: str) -> bool | str:
    """Mark the run COMPLETED, as its session asked; True, or why not."""
    try:
        transport.update_run(run, status="COMPLETED")
    except QAHubError as ex:
        return f"run {run} not marked COMPLETED: {ex}"
    journal.mark_completed()
    return True


def _send(
    batches: Batches, entries: Sequence[Entry], progress: TextIO | None, label: str, every: int
) -> tuple[list[Entry], QAHubError | None]:
    """Send entries batch by batch (`send_all`), with a progress line now and then."""
    total, done = len(entries), 0
    said, said_at = 0, time.monotonic()
    while done < total:
        batch = entries[done : done + BATCH_SIZE]
        remaining, error = send_all(batches, batch, BATCH_SIZE)
        if error is not None:
            return [*remaining, *entries[done + len(batch) :]], error
        done += len(batch)
        if progress is not None and done < total and (done - said >= every or _since(said_at) >= PROGRESS_S):
            progress.write(f"{label}: {done:,} of {total:,} results sent\n")
            progress.flush()
            said, said_at = done, time.monotonic()
    return [], None


def _since(moment: float) -> float:
    return time.monotonic() - moment
