"""A yardstick for ``bench/overhead.py`` and ``bench/instructions.py``: the least a journaling plugin does.

It maps each test to its ``qahub`` marker's code at collection and, from three plain
``pytest_runtest_logreport`` calls per test, appends one JSON line per test (code, outcome,
call duration, start) to the file named by ``BENCH_FLOOR_FILE``, with one ``write`` each, as
ours does. Nothing else: no failure details, no FAILED/BROKEN, no screenshots, no xdist or
rerunfailures, no delivery. It is a yardstick, not a bound: a plugin could shave some of it
(a cheaper marker look-up, no JSON), but any plugin that journals each result as it ends pays
most of what it costs.

Loaded with ``-p _floor_plugin`` (this folder on ``PYTHONPATH``); not part of the package.
"""

from __future__ import annotations

import os

import orjson
import pytest

FILE_ENV = "BENCH_FLOOR_FILE"


class FloorJournal:
    """Journals each test's outcome: the whole plugin."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._codes: dict[str, str | None] = {}
        self._start = 0.0
        self._outcome = "passed"
        self._duration_ms = 0

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            marker = item.get_closest_marker("qahub")
            self._codes[item.nodeid] = str(marker.args[0]) if marker and marker.args else None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        when = report.when
        if when == "setup":
            self._start, self._outcome, self._duration_ms = report.start, report.outcome, 0
        elif when == "call":
            self._duration_ms = round(report.duration * 1000)
            if self._outcome == "passed":
                self._outcome = report.outcome
        else:
            code = self._codes.get(report.nodeid)
            if code is not None:
                line = {"code": code, "outcome": self._outcome, "ms": self._duration_ms, "at": self._start}
                os.write(self._fd, orjson.dumps(line) + b"\n")

    def pytest_unconfigure(self) -> None:
        os.close(self._fd)


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get(FILE_ENV)
    if not path:
        raise pytest.UsageError(f"_floor_plugin: set {FILE_ENV} to the file to journal to")
    config.pluginmanager.register(FloorJournal(path), "bench-floor-journal")
