"""The test process's handle on the delivery process (`process`).

Starting it costs the tests a fork and nothing after: its answers are read on a thread
that sleeps in a blocking read, and the results reach it through the journal file. When a
resident delivery process (`resident`) takes the job, there is no start at all: the same
lines go over its socket.

Everything it opens — the process, its stdin and stdout pipes, the file holding its stderr,
the reading thread — is closed or joined by `DeliveryProcess.stop`, never left to the garbage
collector: an unclosed file is a ``ResourceWarning``, which a project's ``filterwarnings =
error`` turns into a failed session.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from . import resident

#: Seconds to wait for the delivery process to answer the job (the run check).
READY_TIMEOUT_S = 60.0
#: Seconds given to the delivery process beyond the flush time-out before it is stopped.
EXIT_GRACE_S = 5.0


class DeliveryProcess:
    """A running ``python -m pytest_qahub.delivery``: the session's own, or the resident.

    With ``keep_warm`` in the job, a resident for this code takes the job if one is free;
    else the session starts its own, which stays as the resident afterwards.
    """

    def __init__(self, job: dict[str, Any]) -> None:
        self._errors: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: socket.socket | None = None
        self.resident_pid: int | None = None  # the resident that serves the session, if one does
        where = resident.address(os.environ) if job.get("keep_warm") else None
        job = {**job, "resident": str(where) if where else None}
        served = where and resident.dial(where, {**job, "env": dict(os.environ), "cwd": os.getcwd()})
        if served:
            self._connection, incoming, self.resident_pid = served
        else:
            incoming = self._start(job)
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stopped = False
        self._last_error: str | None = None  # the end of its stderr, kept once the file is closed
        self._reader = threading.Thread(
            target=self._read, args=(incoming,), name="qahub-delivery-answers", daemon=True
        )
        self._reader.start()

    def _start(self, job: dict[str, Any]) -> IO[bytes]:
        """Start a delivery process of the session's own, give it the job; return its stdout."""
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (read by why() to the end)
        # -P and this package's folder first: a `collector` or `pytest_qahub` folder in the
        # project being tested must not stand in for ours.
        here = str(Path(__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-m", "pytest_qahub.delivery"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,
                env={**os.environ, "PYTHONPATH": path},
            )
        except BaseException:
            self._errors.close()
            raise
        self._tell(job)
        assert self._process.stdout is not None
        return self._process.stdout

    def _read(self, incoming: IO[bytes]) -> None:
        try:
            for line in incoming:
                with contextlib.suppress(ValueError):  # not one of its answers: read on
                    self._answers.put(orjson.loads(line))
        except (OSError, ValueError):
            pass  # the pipe broke: the process is gone either way
        finally:
            incoming.close()  # this thread's pipe: closed here, where it is read
        if self._process is not None:
            # Its output ends as it exits: wait for the exit, so that `running` and `why()`
            # tell an exit from a silence once None arrives.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(EXIT_GRACE_S)
        self._answers.put(None)  # it exited, or the resident closed the connection

    def _tell(self, message: dict[str, Any]) -> None:
        line = orjson.dumps(message) + b"\n"
        # OSError: it died, and its answer (or the lack of one) says why; ValueError: stopped.
        with contextlib.suppress(OSError, ValueError):
            if self._connection is not None:
                self._connection.sendall(line)
            elif self._process is not None and self._process.stdin is not None:
                self._process.stdin.write(line)
                self._process.stdin.flush()

    def _end_input(self) -> None:
        """End what it reads: the session is over (or gone)."""
        with contextlib.suppress(OSError):  # a broken pipe: the process is gone anyway
            if self._connection is not None:
                self._connection.shutdown(socket.SHUT_WR)
            elif self._process is not None:
                self._process.stdin.close()  # type: ignore[union-attr]

    def answer(self, timeout: float) -> dict[str, Any] | None:
        """The next answer, or None if it exited or took longer than timeout seconds."""
        try:
            return self._answers.get(timeout=timeout)
        except queue.Empty:
            return None

    def follow(self, journal: Path) -> None:
        """Tell it where the session's journal is: it starts delivering."""
        self._tell({"journal": str(journal)})

    def finish(self, timeout: float, waiting: Callable[[str], None] | None = None) -> dict[str, Any] | None:
        """Tell it the session is over; return its stats, or None if it did not finish in time.

        ``waiting(line)`` is called with what it waits for, if it says (a slow flush).
        """
        self._tell({"end": True})
        self._end_input()
        deadline = time.monotonic() + timeout + EXIT_GRACE_S
        stats = self.answer(timeout + EXIT_GRACE_S)
        while stats and stats.get("event") == "waiting":
            if waiting is not None:
                waiting(str(stats.get("message")))
            stats = self.answer(max(0.0, deadline - time.monotonic()))
        if stats and stats.get("event") == "stats":
            self.stop(EXIT_GRACE_S)  # it is exiting
            return stats
        self.stop(0)
        return None

    def stop(self, wait: float = 0) -> None:
        """Make sure the process is gone, after wait seconds, and close its pipes, file and thread.

        What it did not deliver stays in the journal. Safe to call more than once.
        """
        if self._stopped:
            return
        self._stopped = True
        if self._process is not None:
            try:
                self._process.wait(wait)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._end_input()
        if self._connection is not None:
            # The resident delivers what the journal holds and serves the next session.
            with contextlib.suppress(OSError):
                self._connection.shutdown(socket.SHUT_RDWR)
            self._connection.close()
        # Its output ended with it: the thread closes the pipe and ends at once.
        self._reader.join(EXIT_GRACE_S)
        self._last_error = self._read_errors()
        if self._errors is not None:
            self._errors.close()

    @property
    def running(self) -> bool:
        if self._process is None:
            return self._reader.is_alive()
        return self._process.poll() is None

    def why(self) -> str:
        """The end of what it wrote on stderr (why it failed), or its exit status."""
        last = self._last_error if self._stopped else self._read_errors()
        if self._process is None:
            return last or f"the resident delivery process (pid {self.resident_pid}) closed the connection"
        return last or f"the delivery process exited with status {self._process.poll()}"

    def _read_errors(self) -> str | None:
        """The last line it wrote on stderr, if any."""
        if self._errors is None:
            return None
        try:
            self._errors.seek(0)
            lines = self._errors.read().decode(errors="replace").strip().splitlines()
        except (OSError, ValueError):  # ValueError: the file is closed
            return None
        return lines[-1] if lines else None
