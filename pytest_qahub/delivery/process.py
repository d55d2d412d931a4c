"""The delivery process: checks the run, then follows the session's journal and delivers it.

The plugin starts it at session start (``python -m pytest_qahub.delivery``), so that talking
to the collector — HTTP through requests, or the embedded collector's database — never runs
in the test process: a test pays for appending its result to the journal, nothing more.

Before any test runs it checks everything delivery needs (`preflight`): that the URL is a
collector's, the token's scopes, the run (created here when the session names a new one).

It speaks JSON lines. On stdin: the job, then ``{"journal": path}`` once the journal exists,
then ``{"end": true}`` when the session is over (end of input means the same: the test process
is gone, and what it journaled is still delivered). On stdout: one answer to the job
(``ready``, ``offline`` or ``usage_error``), ``waiting`` when the final flush is slow, and at
the end the ``stats`` of what it sent.

Outside CI it then stays as the resident (`resident`) and serves the next sessions the same
way over a Unix socket, each after an ``accepted`` answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from ..errors import TRANSIENT_ERRORS, ClientError, QAHubError, SetupError
from ..journal import REPLAY_COMPLETES, Follower, Journal
from . import ci, resident
from .batches import Batches
from .checks import check_access, open_run
from .connect import connect
from .outbox import Outbox
from .transport import Transport

#: Writes one answer to the test process.
Say = Callable[[dict[str, Any]], None]

#: Seconds between looks at the journal for new lines.
POLL_S = 0.05
#: Seconds the end-of-session flush may take before the session is told what it waits for.
SLOW_FLUSH_S = 1.0


@dataclasses.dataclass(frozen=True)
class Job:
    """What the test process asks for (the first line on stdin)."""

    run: str | None  # None: create a run named `run_name`
    url: str | None
    token: str | None
    root: str
    batch_size: int
    flush_timeout: float
    run_name: str | None = None
    #: Run tags the user gave (CLI, environment, ini): set on the run, created or given.
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Mark the run COMPLETED once everything is delivered.
    complete: bool = False
    #: Seconds to stay afterwards as the resident at ``resident`` (0: exit; see `resident`).
    keep_warm: float = 0.0
    resident: str | None = None
    #: The session's environment and working directory, when a resident serves it.
    env: dict[str, str] | None = None
    cwd: str | None = None


#: Where the test process's settings for the token come from, for messages.
TOKEN_HINT = "QAHUB_TOKEN or --qahub-token"


def preflight(job: Job) -> tuple[dict[str, Any], Transport | None]:
    """Check everything delivery needs before a test runs; return the answer, and the
    transport when delivery can start.

    The answer is ``ready`` (with the run, and the project's codes), ``usage_error`` (a
    setting that would make every delivery fail: the tests must not run) or ``offline``
    (the collector cannot be reached: the tests run, their results wait in the journal).
    """
    try:
        transport = connect(job.url, job.token, Path(job.root))
    except ClientError as ex:
        where = f"QAHub at {job.url}" if job.url else "QAHub embedded collector"
        return {"event": "usage_error", "message": f"{where}: {ex.message}"}, None
    url = transport.url
    tags = {**ci.run_tags(os.environ, Path(job.root)), **job.tags} if job.run is None else dict(job.tags)
    try:
        if job.url:  # the embedded collector has no token to check
            check_access(transport, job.token is not None, ("read", "write"), TOKEN_HINT)  # type: ignore[arg-type]
        run, created = open_run(transport, job.run, job.run_name, tags)
    except SetupError as ex:
        transport.close()
        return {"event": "usage_error", "message": str(ex)}, None
    except TRANSIENT_ERRORS as ex:
        transport.close()
        return {
            "event": "offline",
            "url": url,
            "message": f"{url} cannot be reached: {ex}",
            "tags": tags,
        }, None
    except QAHubError as ex:  # a request that could not even be made
        transport.close()
        return {"event": "usage_error", "message": f"QAHub at {url}: {ex}"}, None
    answer: dict[str, Any] = {
        "event": "ready",
        "url": url,
        "run": run.get("id"),
        "run_name": run.get("name"),
        "created": created,
        "codes": None,
    }
    try:
        answer["codes"] = sorted(transport.case_codes())
    except (QAHubError, KeyError, TypeError) as ex:
        answer["warning"] = f"QAHub: could not list the project's test cases ({ex}); codes not checked"
    return answer, transport


class Control:
    """The test process's messages, read on a thread of their own."""

    def __init__(self, stream: Iterable[bytes]) -> None:
        self.journal: Path | None = None
        self.has_journal = threading.Event()
        self.ended = threading.Event()
        self._stream = stream
        threading.Thread(target=self._read, name="qahub-control", daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._stream:
                message = orjson.loads(line)
                if not isinstance(message, dict):
                    continue
                if "journal" in message:
                    self.journal = Path(message["journal"])
                    self.has_journal.set()
                if message.get("end"):
                    break
        except (OSError, ValueError):
            pass  # a broken pipe or line: the session is over either way
        self.ended.set()
        self.has_journal.set()


def deliver(
    job: Job,
    run_id: str,
    transport: Transport,
    known_codes: set[str] | None,
    control: Control,
    say: Say,
) -> dict[str, Any]:
    """Send what the journal gains until the session ends, then flush; return the stats.

    If the flush outlasts ``job.flush_timeout``, a watch answers the stats itself and ends
    the process (what is not delivered stays in the journal).
    """
    control.has_journal.wait()
    if control.journal is None:
        return {"event": "stats"}  # the session ended before it journaled anything
    follower = Follower(control.journal)
    journal = Journal.for_marks(control.journal)
    outbox = Outbox(Batches(transport, journal, run_id, known_codes), batch_size=job.batch_size)
    flushed = threading.Event()
    reported = threading.Lock()  # whoever takes it reports: the flush, or the watch at the time-out

    def report(finished: bool) -> dict[str, Any]:
        try:
            return _stats(job, run_id, transport, outbox, journal, finished)
        finally:
            follower.close()

    def watch() -> None:
        control.ended.wait()
        if flushed.wait(min(SLOW_FLUSH_S, job.flush_timeout)):
            return
        if job.flush_timeout > SLOW_FLUSH_S:
            say({"event": "waiting", "message": _waiting_line(outbox, transport)})
            if flushed.wait(job.flush_timeout - SLOW_FLUSH_S):
                return
        if reported.acquire(blocking=False):
            outbox.stopping = True
            # The flush is still in a request or a retry's wait: it is not waited for, and the
            # process ends even if its answer cannot be written (the session is gone).
            try:
                say(report(finished=False))
            finally:
                os._exit(0)

    threading.Thread(target=watch, name="qahub-flush-watch", daemon=True).start()
    try:
        while not control.ended.wait(POLL_S):
            outbox.add(*follower.read())
            outbox.send_due()
        outbox.add(*follower.read())
    finally:  # the journal's lines read so far are still sent, and every file closed at the end
        outbox.flush()
        flushed.set()
    if not reported.acquire(blocking=False):
        threading.Event().wait()  # the watch reports and ends the process
    return report(finished=True)


def _stats(
    job: Job, run_id: str, transport: Transport, outbox: Outbox, journal: Journal, finished: bool
) -> dict[str, Any]:
    """The answer at the end: totals, what is new since the base run, whether the run was completed."""
    result: dict[str, Any] = {
        "event": "stats",
        **dataclasses.asdict(outbox.stats),
        "undelivered": outbox.undelivered,
        "attachments_waiting": outbox.attachments_waiting,
    }
    if not finished:
        # Still in a request or a retry's wait: say that, rather than the last error (if any).
        doing = transport.activity() or "still sending"
        result["last_error"] = f"--qahub-flush-timeout ({job.flush_timeout:g} s) ran out: {doing}"
    if finished and not outbox.undelivered:
        result["changes"] = changes_since_base(transport, run_id)
    try:
        if job.complete:
            result["completed"], result["not_completed"] = complete(transport, run_id, outbox, finished)
            if result["completed"]:
                with contextlib.suppress(OSError):  # the run is COMPLETED; a replay would only repeat it
                    journal.mark_completed()
    finally:
        with contextlib.suppress(OSError):
            journal.close()
    return result


def changes_since_base(transport: Transport, run_id: str) -> dict[str, Any] | None:
    """What is new since the previous run of the branch, for the summary; None when not known.

    A collector without the comparison (another QAHub service) or one that fails here costs
    the summary its line, nothing else.
    """
    try:
        answer = transport.compare(run_id)
    except (QAHubError, OSError):
        return None
    base = answer.get("base") if isinstance(answer, dict) else None
    if not isinstance(base, dict):
        return None
    return {
        "base": str(base.get("id")),
        "base_name": str(base.get("name") or ""),
        "new_failures": list(answer.get("new_failures") or []),
        "fixed": list(answer.get("fixed") or []),
        "flaky": list(answer.get("flaky") or []),
    }


def _waiting_line(outbox: Outbox, transport: Transport) -> str:
    """What the end of the session waits for, in one line."""
    left = outbox.undelivered
    what = f"{left} result{'s' if left != 1 else ''}" if left else "attachments"
    return f"QAHub: delivering the last {what} to {transport.url}: {transport.activity() or 'sending'}"


def complete(transport: Transport, run_id: str, outbox: Outbox, finished: bool) -> tuple[bool, str | None]:
    """Mark the run COMPLETED when nothing waits in the journal; else say why it is not."""
    if not finished or outbox.undelivered or outbox.attachments_waiting:
        waiting = [
            f"{count} {what}"
            for count, what in ((outbox.undelivered, "results"), (outbox.attachments_waiting, "attachments"))
            if count
        ]
        return False, f"{' and '.join(waiting) or 'results'} wait in the journal; {REPLAY_COMPLETES}"
    try:
        transport.update_run(run_id, status="COMPLETED")
    except QAHubError as ex:
        return False, f"the collector refused ({ex}); mark it later with: qahub run complete {run_id}"
    return True, None


def skip_postgres_drivers(job: Job) -> None:
    """Keep peewee from importing a PostgreSQL driver the embedded collector on SQLite never uses.

    peewee imports psycopg (or psycopg2) when it is installed: 0.1 s of this process's start,
    which a short session waits for. Only this process may do this; staying warm afterwards,
    it declines a session on PostgreSQL (`serve_resident`).
    """
    if _embedded_sqlite(job):
        for name in ("psycopg", "psycopg2", "psycopg2cffi"):
            sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # import raises ImportError


def _embedded_sqlite(job: Job) -> bool:
    return job.url is None and (os.environ.get("QAHUB_DATABASE_URL") or "sqlite:").startswith("sqlite")


def _skips_postgres() -> bool:
    return "psycopg" in sys.modules and sys.modules["psycopg"] is None


def answer(message: dict[str, Any]) -> None:
    """Write one answer to the test process (stdout)."""
    sys.stdout.buffer.write(orjson.dumps(message) + b"\n")
    sys.stdout.buffer.flush()


def session(job: Job, lines: Iterable[bytes], say: Say) -> None:
    """Serve one session: check the run, answer, deliver the journal, answer the stats."""
    skip_postgres_drivers(job)
    reply, transport = preflight(job)
    say(reply)
    if transport is None:
        return
    try:
        codes = reply.get("codes")
        known = set(codes) if codes is not None else None
        stats = deliver(job, str(reply["run"]), transport, known, Control(lines), say)
    finally:
        transport.close()
    say(stats)


def serve_resident(fields: dict[str, Any], lines: Iterable[bytes], say: Say) -> float | None:
    """Serve a session as the resident, in its environment and working directory, if this
    process can (one that left out the PostgreSQL drivers declines a job that needs them).

    Returns how long to stay afterwards, as the session asked; None for a declined job.
    """
    try:
        job = Job(**fields)
        os.chdir(job.cwd or job.root)
    except (TypeError, OSError):
        say({"event": "declined"})
        return None
    os.environ.clear()
    os.environ.update(job.env or {})
    if _skips_postgres() and job.url is None and not _embedded_sqlite(job):
        say({"event": "declined"})
        return None
    say({"event": "accepted", "pid": os.getpid()})
    session(job, lines, say)
    return job.keep_warm


def main() -> None:
    # Ctrl-C reaches the whole process group: the test process tells us when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    job = Job(**orjson.loads(sys.stdin.buffer.readline()))
    session(job, sys.stdin.buffer, answer)
    if job.resident and job.keep_warm > 0:
        resident.stay(Path(job.resident), job.keep_warm, serve_resident)
    # Everything is written and closed: skip the interpreter's clean-up (a tenth of a second
    # with the collector loaded), since the session's end waits for this process to exit.
    os._exit(0)
