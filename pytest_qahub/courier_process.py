"""The test process's handle on the delivery process (courier.py).

Starting it costs the tests a fork and nothing after: its answers are read on a thread
that sleeps in a blocking read, and the results reach it through the journal file.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

#: Seconds to wait for the delivery process to answer the job (the run check).
READY_TIMEOUT_S = 60.0
#: Seconds given to the delivery process beyond the flush time-out before it is stopped.
EXIT_GRACE_S = 5.0


class CourierProcess:
    """A running ``python -m pytest_qahub.courier``."""

    def __init__(self, job: dict[str, Any]) -> None:
        self._errors: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (read by why() to the end)
        # -P and this package's folder first: a `collector` or `pytest_qahub` folder in the
        # project being tested must not stand in for ours.
        here = str(Path(__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
        self._process = subprocess.Popen(
            [sys.executable, "-P", "-m", "pytest_qahub.courier"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            env={**os.environ, "PYTHONPATH": path},
        )
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, name="qahub-courier-answers", daemon=True).start()
        self._tell(job)

    def _read(self) -> None:
        assert self._process.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for line in self._process.stdout:
                self._answers.put(orjson.loads(line))
        # Its output ends as it exits: wait for the exit, so that `running` and `why()`
        # tell an exit from a silence once None arrives.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(EXIT_GRACE_S)
        self._answers.put(None)  # it exited

    def _tell(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        with contextlib.suppress(OSError):  # it died: its answer (or the lack of one) says why
            self._process.stdin.write(orjson.dumps(message) + b"\n")
            self._process.stdin.flush()

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
        with contextlib.suppress(OSError):
            self._process.stdin.close()  # type: ignore[union-attr]
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
        """Make sure the process is gone, after wait seconds (what it did not deliver stays
        in the journal)."""
        try:
            self._process.wait(wait)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def why(self) -> str:
        """The end of what it wrote on stderr (why it failed), or its exit status."""
        self._errors.seek(0)
        lines = self._errors.read().decode(errors="replace").strip().splitlines()
        status = self._process.poll()
        return lines[-1] if lines else f"the delivery process exited with status {status}"
