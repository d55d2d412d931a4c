"""End to end: strict mode, a collector that is down, one that fails intermittently, replay."""

from __future__ import annotations

import io
import time

import pytest

from pytest_qahub.delivery.replay import replay
from tests.plugin.conftest import QAHubRun, make_cases
from tests.support.faults import FlakyProxy, closed_port_url
from tests.support.server import CollectorServer

CODES = [f"DLV-{n}" for n in range(30)]


@pytest.fixture
def many(qahub_run: QAHubRun) -> QAHubRun:
    make_cases(qahub_run.server, *CODES)
    qahub_run.pytester.makeconftest(
        """
        def pytest_qahub_test_case(item):
            return "DLV-" + item.callspec.id
        """
    )
    qahub_run.pytester.makepyfile(
        "import pytest\n\n@pytest.mark.parametrize('n', range(30))\ndef test_many(n):\n    pass\n"
    )
    return qahub_run


REJECTED = """
import pytest

@pytest.mark.qahub("STRICT-1", bug_url="https://bugs/" + "x" * 3000)
def test_rejected():
    pass

@pytest.mark.qahub("STRICT-2")
def test_fine():
    pass
"""


def test_rejections_are_reported_and_do_not_change_the_exit_code(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "STRICT-1", "STRICT-2")
    qahub_run.pytester.makepyfile(REJECTED)
    result = qahub_run.pytest()
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "sent 1, rejected 1, waiting in journal 0",
            "  rejected STRICT-1: *",
        ]
    )
    assert set(qahub_run.statuses()) == {"STRICT-2"}


def test_strict_mode_fails_a_passing_session_with_rejected_results(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "STRICT-1", "STRICT-2")
    qahub_run.pytester.makepyfile(REJECTED)
    result = qahub_run.pytest("--qahub-strict")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_strict_mode_keeps_a_clean_session_green(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "STRICT-2")
    qahub_run.pytester.makepyfile("import pytest\n\n@pytest.mark.qahub('STRICT-2')\ndef test_a(): pass\n")
    assert qahub_run.pytest("--qahub-strict").ret == pytest.ExitCode.OK


def test_a_collector_down_all_session_leaves_everything_for_one_replay(
    many: QAHubRun, fresh_server: CollectorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cases(fresh_server, *CODES)
    run = fresh_server.create_run("down")
    monkeypatch.setenv("QAHUB_URL", fresh_server.url)
    monkeypatch.setenv("QAHUB_TOKEN", fresh_server.token)
    fresh_server.stop()  # nothing listens on its port for the whole session
    started = time.monotonic()
    result = many.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--qahub-run={run}", "-W", "default"
    )
    elapsed = time.monotonic() - started
    result.assert_outcomes(passed=30)  # and no warning: the notice is a line of its own
    assert result.ret == pytest.ExitCode.OK
    assert elapsed < 20, f"the session took {elapsed:.1f}s"
    result.stdout.fnmatch_lines(
        [
            "QAHub collector http://127.0.0.1:* cannot be reached*",
            "sent 0, rejected 0, waiting in journal 30",
            "  send them later with: qahub replay .qahub/journal/*.jsonl",
        ]
    )
    assert many.pending() == 30

    fresh_server.start()  # the same port: the journal's URL works again
    assert fresh_server.results(run) == []
    journals = many.pytester.path / ".qahub" / "journal"
    out = io.StringIO()
    code = replay([journals], None, fresh_server.token, out)
    assert code == 0, out.getvalue()
    assert "sent 30, rejected 0, not delivered 0" in out.getvalue()
    rows = fresh_server.results(run)
    assert sorted(row["test_case_code"] for row in rows) == sorted(CODES)
    assert many.pending() == 0

    again = io.StringIO()
    assert replay([journals], None, fresh_server.token, again) == 0
    assert again.getvalue() == "qahub replay: nothing to send (1 journal, all delivered earlier)\n"
    named = io.StringIO()
    assert replay([journals], None, fresh_server.token, named, verbose=True) == 0
    assert "nothing to send (30 delivered earlier)" in named.getvalue()
    assert fresh_server.results(run) == rows


def test_strict_mode_fails_the_session_when_results_wait_in_the_journal(
    many: QAHubRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAHUB_URL", closed_port_url())
    result = many.pytest("--qahub-strict")
    result.assert_outcomes(passed=30)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_intermittent_503s_lose_nothing_and_duplicate_nothing(
    many: QAHubRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FlakyProxy(many.server.url, every=3) as proxy:
        monkeypatch.setenv("QAHUB_URL", proxy.url)
        result = many.pytest("--qahub-batch-size=5", "--qahub-flush-timeout=60")
    result.assert_outcomes(passed=30)
    result.stdout.fnmatch_lines(["sent 30, rejected 0, waiting in journal 0*"])
    assert proxy.failures >= 2
    assert proxy.forwarded_results == 30
    assert sorted(many.statuses()) == sorted(CODES)
    assert many.pending() == 0


def test_a_run_completed_during_the_session_refuses_results_without_breaking_it(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "DONE-1")
    # Someone completes the run while the tests run (the check before them found it open).
    qahub_run.pytester.makepyfile(
        f"""
        import os

        import pytest
        import requests

        @pytest.mark.qahub("DONE-1")
        def test_a():
            requests.patch(
                os.environ["QAHUB_URL"] + "/api/v1/runs/{qahub_run.run_id}",
                json={{"status": "COMPLETED"}},
                headers={{"Authorization": "Bearer " + os.environ["QAHUB_TOKEN"]}},
                timeout=10,
            ).raise_for_status()
        """
    )
    result = qahub_run.pytest()
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.fnmatch_lines(
        [
            "sent 0, rejected 0, waiting in journal 1*",
            "  not delivered: HTTP 409: *",
            "  send them later with: qahub replay .qahub/journal/*.jsonl",
        ]
    )
    assert qahub_run.pending() == 1


def test_an_empty_session_leaves_no_journal_behind(qahub_run: QAHubRun) -> None:
    qahub_run.pytester.makepyfile("def test_unmapped(): pass")
    qahub_run.pytest().assert_outcomes(passed=1)
    assert qahub_run.journals() == []


def test_a_journal_that_cannot_be_closed_is_named_in_the_summary(qahub_run: QAHubRun) -> None:
    qahub_run.pytester.makepyfile(
        """
        from pathlib import Path

        def test_unmapped_and_removes_the_journal():
            for journal in Path(".qahub/journal").glob("*.jsonl"):
                journal.unlink()
        """
    )
    result = qahub_run.pytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*QAHub*", "*could not close the journal: *No such file*"])
