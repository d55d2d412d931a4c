"""The local journal: an append-only JSON-lines file per session.

Line one is a header (url, run id; when the session was to create its run but could not
reach the collector, no id but the run's name and tags instead, for ``qahub replay`` to
create it, which it records in a ``run`` record; whether to complete the run, which a
``completed`` record says was done). Then
``result`` records, each with a sequence number, and ``delivered`` / ``rejected`` records
naming sequence numbers (``delivered`` also maps each accepted code to its result id).
``attachment`` records name a file to upload to a code's result; ``attachment_done`` /
``attachment_refused`` settle them.
Loading a journal yields the results and attachments no later record settles. A
truncated last line (a killed process) is ignored.

Journals with nothing left to send are removed by `prune_delivered` once a session ends,
beyond the newest few (``--qahub-keep-journals``).

Two processes append to a live journal: the test process (results, attachments) and the
delivery process (the marks). Both open it with ``O_APPEND`` and write whole lines in one
``write``, so their lines never mix; the delivery process reads new lines with `Follower`.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from . import private

VERSION = 1
#: What completes a run that was to be completed once everything is delivered, when results
#: still wait in the journal (the header's ``complete``).
REPLAY_COMPLETES = "qahub replay marks it COMPLETED once it has delivered them"


def is_database_url(url: str) -> bool:
    """Tell a database URL (the embedded collector's, in a header) from a collector's HTTP URL."""
    return url.split("://", 1)[0].split("+", 1)[0] in ("sqlite", "postgres", "postgresql")


def default_directory(root: Path) -> Path:
    """Return the journal directory under a project root."""
    return root / ".qahub" / "journal"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Entry(NamedTuple):
    """A journaled result: its sequence number, API payload, and case title to create."""

    seq: int
    payload: dict[str, Any]
    create_title: str | None = None


class AttachmentEntry(NamedTuple):
    """A journaled attachment: a file waiting to be uploaded to its code's result."""

    seq: int
    code: str
    path: str
    name: str
    mime: str


@dataclass
class JournalState:
    """What a journal file says."""

    path: Path
    header: dict[str, Any]
    pending: list[Entry] = field(default_factory=list)
    #: Every result, delivered or not (for copying a run to another collector).
    entries: list[Entry] = field(default_factory=list)
    delivered: int = 0
    rejected: dict[int, str] = field(default_factory=dict)
    corrupt_lines: int = 0
    next_seq: int = 1
    ends_cleanly: bool = True
    attachments: list[AttachmentEntry] = field(default_factory=list)
    attachments_done: int = 0
    attachments_refused: dict[int, str] = field(default_factory=dict)
    #: test case code -> result id, from the collector's answers so far.
    result_ids: dict[str, str] = field(default_factory=dict)
    #: codes whose results the collector rejected (their attachments have nowhere to go).
    rejected_codes: set[str] = field(default_factory=set)
    #: The id of the run `qahub replay` created for a header without one.
    created_run: str | None = None
    #: The run was marked COMPLETED, as the header asked.
    completed: bool = False

    @property
    def url(self) -> str | None:
        return self.header.get("url")

    @property
    def run_id(self) -> str | None:
        return self.header.get("run") or self.created_run

    @property
    def run_name(self) -> str | None:
        """The name of the run to create when the header has no run id."""
        return self.header.get("run_name")

    @property
    def run_tags(self) -> dict[str, str]:
        tags = self.header.get("tags")
        return dict(tags) if isinstance(tags, dict) else {}

    @property
    def complete(self) -> bool:
        """Whether the run is to be marked COMPLETED once everything is delivered."""
        return bool(self.header.get("complete"))


def _entry(record: dict[str, Any]) -> Entry:
    return Entry(record["seq"], record["result"], record.get("create"))


def _attachment(record: dict[str, Any]) -> AttachmentEntry:
    return AttachmentEntry(record["seq"], record["code"], record["path"], record["name"], record["mime"])


def load(path: Path) -> JournalState:
    """Read a journal; raise ValueError if it has no valid header."""
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records: list[dict[str, Any]] = []
    corrupt = 0
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            # Only the last line may be cut short by a killed process; count others.
            if number != len(lines) - 1:
                corrupt += 1
            continue
        if isinstance(record, dict):
            records.append(record)
    if not records or records[0].get("type") != "header":
        raise ValueError(f"{path} is not a QAHub journal (no header line)")
    results: dict[int, Entry] = {}
    delivered: set[int] = set()
    rejected: dict[int, str] = {}
    files: dict[int, AttachmentEntry] = {}
    done: set[int] = set()
    refused: dict[int, str] = {}
    ids: dict[str, str] = {}
    created_run: str | None = None
    completed = False
    for record in records[1:]:
        try:  # a record of a foreign shape (another version, a hand edit) is skipped and counted
            kind = record.get("type")
            if kind == "run" and isinstance(record.get("id"), str):
                created_run = record["id"]
            elif kind == "completed":
                completed = True
            elif kind == "result":
                results[record["seq"]] = _entry(record)
            elif kind == "delivered":
                delivered.update(record["seqs"])
                ids.update(record.get("ids") or {})
            elif kind == "rejected":
                rejected.update({int(seq): message for seq, message in record["messages"].items()})
            elif kind == "attachment":
                files[record["seq"]] = _attachment(record)
            elif kind == "attachment_done":
                done.update(record["seqs"])
            elif kind == "attachment_refused":
                refused.update({int(seq): message for seq, message in record["messages"].items()})
        except (KeyError, TypeError, ValueError, AttributeError):
            corrupt += 1
    settled = delivered | set(rejected)
    files_settled = done | set(refused)
    return JournalState(
        path=path,
        header=records[0],
        pending=[entry for seq, entry in sorted(results.items()) if seq not in settled],
        entries=[entry for _, entry in sorted(results.items())],
        delivered=len(delivered & set(results)),
        rejected=rejected,
        corrupt_lines=corrupt,
        next_seq=max([*results, *files], default=0) + 1,
        ends_cleanly=raw.endswith(b"\n") or not raw,
        attachments=[entry for seq, entry in sorted(files.items()) if seq not in files_settled],
        attachments_done=len(done & set(files)),
        attachments_refused=refused,
        result_ids=ids,
        rejected_codes={
            str(results[seq].payload.get("test_case_code")) for seq in rejected if seq in results
        },
        created_run=created_run,
        completed=completed,
    )


def json_line(record: dict[str, Any]) -> bytes:
    """A record as one JSON line.

    Text that is not valid UTF-8 — lone surrogates, from bytes a test decoded with
    ``os.fsdecode`` — is written with those characters escaped (``caf\\udcff``), as pytest shows them.
    """
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return orjson.dumps(_mended(record), option=orjson.OPT_APPEND_NEWLINE)


def _mended(value: Any) -> Any:
    """value with every string made valid UTF-8 (lone surrogates escaped)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_mended(key): _mended(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mended(item) for item in value]
    return value


def _open_for_append(path: Path, create: bool = False) -> int:
    """A descriptor appending to path (``O_APPEND``: other processes append to it meanwhile)."""
    if create:
        return private.create_file(path, os.O_WRONLY | os.O_APPEND)
    return os.open(path, os.O_WRONLY | os.O_APPEND)


class Journal:
    """An open journal file; safe to append to from several threads.

    Every line goes to the OS in one ``write`` on an unbuffered descriptor: a process killed
    right after appending loses nothing, and lines of two processes never mix.
    """

    def __init__(self, path: Path, descriptor: int, next_seq: int) -> None:
        self.path = path
        self._fd: int | None = descriptor
        self._next_seq = next_seq
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls,
        directory: Path,
        *,
        url: str | None,
        run_id: str | None,
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
        complete: bool = False,
    ) -> Journal:
        """Start a new journal file in directory.

        Without ``run_id``, ``run_name`` and ``tags`` say what run ``qahub replay`` creates.
        """
        private.make_dirs(directory)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = directory / f"{stamp}-{os.getpid()}-{secrets.token_hex(3)}.jsonl"
        journal = cls(path, _open_for_append(path, create=True), 1)
        header: dict[str, Any] = {
            "type": "header",
            "version": VERSION,
            "url": url,
            "run": run_id,
            "created_at": _now(),
            "pid": os.getpid(),
        }
        if run_id is None:
            header.update(run_name=run_name or "", tags=tags or {})
        if complete:
            header["complete"] = True
        try:
            journal._write(header)
            journal.sync()
        except OSError:
            journal.close_quietly()  # a full disk: no descriptor left behind
            raise
        return journal

    @classmethod
    def reopen(cls, state: JournalState) -> Journal:
        """Open a loaded journal to append delivery marks to it."""
        journal = cls(state.path, _open_for_append(state.path), state.next_seq)
        if not state.ends_cleanly:
            journal._append(b"\n")  # end the truncated line so the next record stands alone
        return journal

    @classmethod
    def for_marks(cls, path: Path) -> Journal:
        """Open a live journal to append delivery marks only (the delivery process)."""
        return cls(path, _open_for_append(path), 0)

    def _append(self, data: bytes) -> None:
        """Write data whole (a regular file takes it in one call, short of a full disk)."""
        if self._fd is None:
            raise OSError(f"journal {self.path} is closed")
        written = os.write(self._fd, data)
        while written < len(data):
            written += os.write(self._fd, data[written:])

    def _write(self, record: dict[str, Any]) -> None:
        line = json_line(record)
        with self._lock:
            self._append(line)

    def append_payload(self, payload: dict[str, Any], create_title: str | None = None) -> int:
        """Append a result and return its sequence number (the test process's way, once per test)."""
        record: dict[str, Any] = {"type": "result", "seq": 0, "result": payload}
        if create_title:
            record["create"] = create_title
        lock = self._lock
        lock.acquire()  # not `with`, whose enter and exit cost 1.8 k instructions more, once per test
        try:
            seq = record["seq"] = self._next_seq
            self._append(json_line(record))
            self._next_seq = seq + 1
        finally:
            lock.release()
        return seq

    def _next(self) -> int:
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
        return seq

    def append_attachment(self, code: str, path: str, name: str, mime: str) -> AttachmentEntry:
        """Append a file to upload to code's result; return it with its sequence number."""
        entry = AttachmentEntry(self._next(), code, path, name, mime)
        self._write(
            {"type": "attachment", "seq": entry.seq, "code": code, "path": path, "name": name, "mime": mime}
        )
        return entry

    def mark_run(self, run_id: str) -> None:
        """Record the id of the run created for a journal whose header has none."""
        self._write({"type": "run", "id": run_id, "at": _now()})
        self.sync()

    def mark_completed(self) -> None:
        """Record that the run was marked COMPLETED."""
        self._write({"type": "completed", "at": _now()})

    def mark_delivered(self, seqs: list[int], ids: dict[str, str] | None = None) -> None:
        """Record that the server accepted these results, and the result id of each code."""
        if seqs:
            record: dict[str, Any] = {"type": "delivered", "seqs": seqs, "at": _now()}
            if ids:
                record["ids"] = ids
            self._write(record)

    def mark_attachments_done(self, seqs: list[int]) -> None:
        """Record that these attachments were uploaded."""
        if seqs:
            self._write({"type": "attachment_done", "seqs": seqs, "at": _now()})

    def mark_attachments_refused(self, messages: dict[int, str]) -> None:
        """Record that these attachments will never be uploaded (413, 415, no result), and why."""
        if messages:
            self._write(
                {
                    "type": "attachment_refused",
                    "messages": {str(k): v for k, v in messages.items()},
                    "at": _now(),
                }
            )

    def mark_rejected(self, messages: dict[int, str]) -> None:
        """Record that the server refused these results, with its messages."""
        if messages:
            self._write(
                {"type": "rejected", "messages": {str(k): v for k, v in messages.items()}, "at": _now()}
            )

    def sync(self) -> None:
        """Make what was written durable (fsync); called once per batch, not per result.

        The fsync (milliseconds) runs outside the lock, on a duplicate of the descriptor,
        so a test appending its result meanwhile never waits for the disk; everything
        written before the call is durable when it returns.
        """
        with self._lock:
            if self._fd is None:
                return
            descriptor = os.dup(self._fd)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def close(self) -> None:
        """Sync and close the file; later writes are errors."""
        try:
            self.sync()
        finally:  # closed even when the disk refuses the sync
            self.close_quietly()

    def close_quietly(self) -> None:
        """Close the file without syncing it."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class Follower:
    """Reads the records a live journal gains, as they are appended."""

    def __init__(self, path: Path) -> None:
        self._handle = path.open("rb")
        self._rest = b""  # a line whose end has not been written yet

    def read(self) -> tuple[list[Entry], list[AttachmentEntry]]:
        """Return the results and attachments appended since the last call."""
        data = self._rest + self._handle.read()
        lines = data.split(b"\n")
        self._rest = lines.pop()
        entries: list[Entry] = []
        files: list[AttachmentEntry] = []
        for line in lines:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a line cut short by an earlier killed process
            kind = record.get("type") if isinstance(record, dict) else None
            if kind == "result":
                entries.append(_entry(record))
            elif kind == "attachment":
                files.append(_attachment(record))
        return entries, files

    def close(self) -> None:
        self._handle.close()


@dataclass(frozen=True)
class KeepJournals:
    """Which delivered journals to keep: those of the newest ``sessions``, or of the last ``days``."""

    sessions: int | None = None
    days: float | None = None

    @classmethod
    def parse(cls, text: str) -> KeepJournals:
        """Read ``N`` (sessions) or ``Nd`` (days); raise ValueError with the form expected."""
        value = str(text).strip().lower()
        try:
            if value.endswith("d"):
                days = float(value[:-1])
                if days >= 0:
                    return cls(days=days)
            elif int(value) >= 0:
                return cls(sessions=int(value))
        except ValueError:
            pass
        raise ValueError("give a number of sessions (20) or of days (7d)")

    def __str__(self) -> str:
        return f"{self.days:g}d" if self.days is not None else str(self.sessions)


DEFAULT_KEEP = KeepJournals(sessions=20)
#: A journal written to within this many seconds may belong to a session still running elsewhere.
QUIET_S = 3600.0


def _writer_alive(path: Path) -> bool:
    """Whether the process that wrote a journal (its name holds the pid) still runs here."""
    try:
        pid = int(path.name.split("-")[1])
    except (IndexError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


def prune_delivered(directory: Path, keep: KeepJournals, now: float | None = None) -> list[Path]:
    """Remove the journals with nothing left to send that ``keep`` does not keep; return them.

    A journal is kept whenever anything in it is undelivered (results or attachments), when
    its session may still be running, and when ``keep`` names it. Journal names start with
    their session's start time, so they sort oldest first.
    """
    now = time.time() if now is None else now
    try:
        newest_first = sorted(directory.glob("*.jsonl"), reverse=True)
    except OSError:
        return []
    removed: list[Path] = []
    for index, path in enumerate(newest_first):
        if keep.sessions is not None and index < keep.sessions:
            continue
        try:
            age = now - path.stat().st_mtime
            if (keep.days is not None and age < keep.days * 86400) or age < QUIET_S or _writer_alive(path):
                continue
            state = load(path)
            if state.pending or state.attachments:
                continue  # `qahub replay` still has work here
            path.unlink()
        except (OSError, ValueError):
            continue  # gone already, unreadable, or not a journal: not ours to judge
        removed.append(path)
    return removed
