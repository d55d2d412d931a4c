"""The delivery process: checks the run, then follows the session's journal and delivers it.

The plugin starts it at session start (``python -m pytest_qahub.courier``), so that talking
to the collector — HTTP through requests, or the embedded collector's database — never runs
in the test process: a test pays for appending its result to the journal, nothing more.

It speaks JSON lines. On stdin: the job, then ``{"journal": path}`` once the journal exists,
then ``{"end": true}`` when the session is over (end of input means the same: the test process
is gone, and what it journaled is still delivered). On stdout: one answer to the job
(``ready``, ``offline`` or ``usage_error``), and at the end the ``stats`` of what it sent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

import orjson

from .delivery import Delivery
from .errors import TRANSIENT_ERRORS, AuthError, ClientError, NotFound, QAHubError, ResponseError
from .journal import Follower, Journal
from .sender import Sender
from .transport import Transport, make_transport

#: Seconds between looks at the journal for new lines.
POLL_S = 0.05


@dataclasses.dataclass(frozen=True)
class Job:
    """What the test process asks for (the first line on stdin)."""

    run: str
    url: str | None
    token: str | None
    root: str
    batch_size: int
    flush_timeout: float


def preflight(job: Job) -> tuple[dict[str, Any], Transport | None]:
    """Open the transport, check the run and list the project's codes; return the answer."""
    try:
        transport = make_transport(job.url, job.token, Path(job.root))
    except ClientError as ex:
        where = f"QAHub at {job.url}" if job.url else "QAHub embedded collector"
        return {"event": "usage_error", "message": f"{where}: {ex.message}"}, None
    url, run = transport.url, job.run
    try:
        transport.get_run(run)
    except NotFound:
        transport.close()
        return {"event": "usage_error", "message": f"QAHub run {run!r} does not exist at {url}"}, None
    except AuthError as ex:
        transport.close()
        given = "the token was rejected" if job.token else "no token was given"
        message = (
            f"QAHub at {url}: {given} ({ex}); pass a token with read,write scopes "
            "in QAHUB_TOKEN or --qahub-token"
        )
        return {"event": "usage_error", "message": message}, None
    except TRANSIENT_ERRORS as ex:
        transport.close()
        return {"event": "offline", "url": url, "message": f"{url} cannot be reached: {ex}"}, None
    except ResponseError as ex:
        transport.close()
        return {"event": "usage_error", "message": f"QAHub at {url} refused run {run!r}: {ex}"}, None
    except QAHubError as ex:  # a request that could not even be made
        transport.close()
        return {"event": "usage_error", "message": f"QAHub at {url}: {ex}"}, None
    answer: dict[str, Any] = {"event": "ready", "url": url, "codes": None}
    try:
        answer["codes"] = sorted(transport.case_codes())
    except (QAHubError, KeyError, TypeError) as ex:
        answer["warning"] = f"QAHub: could not list the project's test cases ({ex}); codes not checked"
    return answer, transport


class Control:
    """The test process's messages, read on a thread of their own."""

    def __init__(self, stream: TextIO) -> None:
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


def deliver(job: Job, transport: Transport, known_codes: set[str] | None, control: Control) -> dict[str, Any]:
    """Send what the journal gains until the session ends, then flush; return the stats."""
    control.has_journal.wait()
    if control.journal is None:
        return {"event": "stats"}  # the session ended before it journaled anything
    follower = Follower(control.journal)
    journal = Journal.for_marks(control.journal)
    sender = Sender(Delivery(transport, journal, job.run, known_codes), batch_size=job.batch_size)
    sender.start()

    def feed() -> None:
        entries, files = follower.read()
        for entry in entries:
            sender.submit(entry)
        for file in files:
            sender.submit_attachment(file)

    try:
        while not control.ended.wait(POLL_S):
            feed()
        feed()
    finally:  # the journal's lines read so far are still sent, and every file closed
        sender.flush(job.flush_timeout)
        with contextlib.suppress(OSError):
            journal.close()
        follower.close()
    stats = sender.stats
    return {
        "event": "stats",
        **dataclasses.asdict(stats),
        "undelivered": sender.undelivered,
        "attachments_waiting": sender.attachments_waiting,
    }


def skip_postgres_drivers(job: Job) -> None:
    """Keep peewee from importing a PostgreSQL driver the embedded collector on SQLite never uses.

    peewee imports psycopg (or psycopg2) when it is installed: 0.1 s of this process's start,
    which a short session waits for. Only this process, with its one database, may do this.
    """
    if job.url is None and (os.environ.get("QAHUB_DATABASE_URL") or "sqlite:").startswith("sqlite"):
        for name in ("psycopg", "psycopg2", "psycopg2cffi"):
            sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # import raises ImportError


def answer(message: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(message) + b"\n")
    sys.stdout.buffer.flush()


def main() -> None:
    # Ctrl-C reaches the whole process group: the test process tells us when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    job = Job(**orjson.loads(sys.stdin.readline()))
    skip_postgres_drivers(job)
    reply, transport = preflight(job)
    answer(reply)
    if transport is None:
        return
    try:
        codes = reply.get("codes")
        stats = deliver(job, transport, set(codes) if codes is not None else None, Control(sys.stdin))
    finally:
        transport.close()
    answer(stats)
    # Everything is written and closed: skip the interpreter's clean-up (a tenth of a second
    # with the collector loaded), since the session's end waits for this process to exit.
    os._exit(0)


if __name__ == "__main__":
    main()
