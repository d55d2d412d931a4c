"""Fixtures for the plugin's end-to-end tests: a run on the real collector, and its rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_qahub.journal import default_directory, load
from tests.support.server import CollectorServer


@dataclass
class QAHubRun:
    """A fresh run on the session's collector, and helpers to run pytest against it."""

    server: CollectorServer
    pytester: pytest.Pytester
    run_id: str

    def pytest(self, *args: str, timeout: float = 120) -> pytest.RunResult:
        """Run pytest in a subprocess, reporting to this run."""
        return self.pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", f"--qahub-run={self.run_id}", *args, timeout=timeout
        )

    def rows(self, run_id: str | None = None) -> dict[str, dict]:
        """Return the run's results by test case code (asserting there is one per code)."""
        rows = self.server.results(run_id or self.run_id)
        by_code = {row["test_case_code"]: row for row in rows}
        assert len(by_code) == len(rows), rows
        return by_code

    def statuses(self, run_id: str | None = None) -> dict[str, str]:
        return {code: row["status"] for code, row in self.rows(run_id).items()}

    def journals(self) -> list[Path]:
        return sorted(default_directory(self.pytester.path).glob("*.jsonl"))

    def pending(self) -> int:
        return sum(len(load(path).pending) for path in self.journals())


@pytest.fixture
def qahub_run(
    collector_server: CollectorServer, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Iterator[QAHubRun]:
    """A new run; QAHUB_URL and QAHUB_TOKEN point pytest subprocesses at the collector."""
    monkeypatch.setenv("QAHUB_URL", collector_server.url)
    monkeypatch.setenv("QAHUB_TOKEN", collector_server.token)
    for name in ("QAHUB_RUN", "QAHUB_BATCH_SIZE", "QAHUB_UNMAPPED", "QAHUB_STRICT"):
        monkeypatch.delenv(name, raising=False)
    yield QAHubRun(collector_server, pytester, collector_server.create_run("plugin-test"))


def make_cases(server: CollectorServer, *codes: str) -> None:
    """Make sure the project has these test case codes."""
    for code in codes:
        server.create_case(code, f"title of {code}")
