"""End to end: what the user is told while and after results are delivered."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_qahub.delivery.replay import replay
from pytest_qahub.journal import Journal
from tests.plugin.conftest import QAHubRun
from tests.support.faults import FaultProxy, closed_port_url
from tests.support.journals import journal_entry
from tests.support.server import CollectorServer, qahub

TWO = """
import pytest

@pytest.mark.qahub("FB-1")
def test_one():
    pass

@pytest.mark.qahub("FB-2")
def test_two():
    pass
"""


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[CollectorServer]:
    """A collector that lets a token write once, then once every ten seconds (429 with Retry-After)."""
    server = CollectorServer(
        tmp_path / "collector",
        extra_env={"QAHUB_RATE_LIMIT_WRITES": "0.1", "QAHUB_RATE_LIMIT_BURST": "1"},
    )
    # Set up on the database itself: the API would spend the token's one write.
    qahub(server.env, "case", "create", "FB-1", "one")
    qahub(server.env, "case", "create", "FB-2", "two")
    server.start()
    yield server
    server.stop(kill=True)


def test_a_slow_flush_says_what_it_waits_for_and_the_summary_why_results_wait(
    limited_server: CollectorServer, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = qahub(limited_server.env, "run", "create", "--name", "limited").strip()
    monkeypatch.setenv("QAHUB_URL", limited_server.url)
    monkeypatch.setenv("QAHUB_TOKEN", limited_server.token)
    pytester.makepyfile(TWO)
    result = pytester.runpytest_subprocess(
        f"--qahub-run={run_id}", "--qahub-batch-size=1", "--qahub-flush-timeout=3"
    )
    assert result.ret == pytest.ExitCode.OK
    waiting = (
        f"QAHub: delivering the last 1 result to {limited_server.url}: "
        "the collector answered 429, retrying in 10 s"
    )
    result.stdout.fnmatch_lines(
        [
            waiting,
            "*QAHub*",
            "sent 1, rejected 0, waiting in journal 1",
            "  not delivered: --qahub-flush-timeout (3 s) ran out: "
            "the collector answered 429, retrying in 10 s",
            "  1 results wait in *.jsonl",
        ]
    )
    assert result.stdout.str().count("QAHub: delivering the last") == 1


def test_strict_mode_says_it_failed_the_session(qahub_run: QAHubRun) -> None:
    qahub_run.pytester.makepyfile(TWO)
    result = qahub_run.pytest(f"--qahub-url={closed_port_url()}", "--qahub-strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["--qahub-strict: results were rejected or not delivered, so the session fails"]
    )


def test_a_long_list_of_unknown_codes_is_cut(qahub_run: QAHubRun) -> None:
    qahub_run.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(25))
        def test_many(n):
            pass
        """
    )
    qahub_run.pytester.makeconftest(
        """
        def pytest_qahub_test_case(item):
            return f"NOPE-{item.callspec.params['n']:02d}"
        """
    )
    result = qahub_run.pytest("-W", "default")
    named = "NOPE-00, NOPE-01, NOPE-02, NOPE-03, NOPE-04, NOPE-05, NOPE-06, NOPE-07, NOPE-08, NOPE-09"
    result.stdout.fnmatch_lines(
        [
            f"*QAHub: 25 test case code(s) do not exist in the project; their results will not be sent: "
            f"{named} and 15 more",
            f"  unknown test case codes (not sent): {named} and 15 more",
        ]
    )
    result.stdout.no_fnmatch_line("*NOPE-10*")


def journal_for(directory: Path, url: str, run_id: str, count: int) -> Path:
    journal = Journal.create(directory, url=url, run_id=run_id)
    for n in range(count):
        journal_entry(journal, {"test_case_code": f"FB-{n % 2 + 1}", "status": "PASSED"})
    journal.close()
    return journal.path


def test_replay_says_how_far_it_is_on_a_large_journal(qahub_run: QAHubRun, tmp_path: Path) -> None:
    qahub_run.server.create_case("FB-1")
    qahub_run.server.create_case("FB-2")
    path = journal_for(tmp_path, qahub_run.server.url, qahub_run.run_id, 350)
    out, progress = io.StringIO(), io.StringIO()
    assert replay([path], None, qahub_run.server.token, out, progress=progress, progress_every=100) == 0
    assert progress.getvalue().splitlines() == [
        f"{path}: run {qahub_run.run_id}: {done} of 350 results sent" for done in (100, 200, 300)
    ]
    assert "sent 350, rejected 0, not delivered 0" in out.getvalue()


def test_retries_are_not_logged_by_urllib3(qahub_run: QAHubRun, tmp_path: Path) -> None:
    qahub_run.server.create_case("FB-1")
    qahub_run.server.create_case("FB-2")
    with FaultProxy(qahub_run.server.url, "reset", every=2) as proxy:
        path = journal_for(tmp_path, proxy.url, qahub_run.run_id, 250)
        done = subprocess.run(
            [sys.executable, "-m", "collector.cli", "replay", str(path)],
            env={**qahub_run.server.env, "QAHUB_TOKEN": qahub_run.server.token},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proxy.failures > 0
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sent 250" in done.stdout
    assert "Retrying" not in done.stderr
    assert "urllib3" not in done.stderr
