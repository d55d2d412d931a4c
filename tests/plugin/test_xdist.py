"""End to end under pytest-xdist: workers capture, the controller aggregates and sends."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.plugin.conftest import QAHubRun, make_cases
from tests.plugin.test_reporting import STATUS_CODES, STATUS_SUITE

PARAM_SUITE = """
import pytest

@pytest.mark.qahub("XD-PARAM")
@pytest.mark.parametrize("n", range(6))
def test_param(n):
    assert n % 3, f"{n} is a multiple of three"

@pytest.mark.qahub("XD-CLASS")
class TestGrouped:
    def test_one(self):
        pass

    def test_two(self):
        raise OSError("disk gone")
"""

VOLATILE = {"id", "test_case_id", "created_at", "updated_at", "executed_at", "duration_ms"}


def comparable(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Drop what differs between any two runs: ids, times, object addresses in stacks."""
    return {
        code: {
            key: re.sub(r"0x[0-9a-f]+", "0x?", value) if isinstance(value, str) else value
            for key, value in row.items()
            if key not in VOLATILE
        }
        for code, row in rows.items()
    }


def test_two_workers_give_the_same_rows_as_a_serial_run(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, *STATUS_CODES, "XD-PARAM", "XD-CLASS")
    qahub_run.pytester.makepyfile(test_statuses=STATUS_SUITE, test_params=PARAM_SUITE)
    qahub_run.pytest("-p", "no:xdist")
    serial = qahub_run.rows()
    parallel_run = qahub_run.server.create_run("xdist")
    result = qahub_run.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--qahub-run={parallel_run}", "-n", "2"
    )
    result.stdout.fnmatch_lines(["*sent 13, rejected 0, waiting in journal 0*"])
    parallel = qahub_run.rows(parallel_run)
    assert comparable(parallel) == comparable(serial)
    assert serial["XD-PARAM"]["status"] == "FAILED"
    assert serial["XD-PARAM"]["error_message"].startswith("[0] AssertionError: 0 is a multiple")
    assert serial["XD-CLASS"]["status"] == "BROKEN"


def test_workers_neither_journal_nor_send(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "XD-ONE")
    qahub_run.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qahub("XD-ONE")
        def test_a(request):
            plugins = request.config.pluginmanager
            assert hasattr(request.config, "workerinput")
            assert plugins.get_plugin("qahub-capture") is not None
            assert plugins.get_plugin("qahub-reporter") is None
        """
    )
    qahub_run.pytest("-n", "2").assert_outcomes(passed=1)
    assert len(qahub_run.journals()) == 1
    assert qahub_run.statuses() == {"XD-ONE": "PASSED"}


def test_a_crashed_worker_leaves_its_test_unknown(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "XD-CRASH", "XD-AFTER")
    qahub_run.pytester.makepyfile(
        """
        import os, pytest

        @pytest.mark.qahub("XD-CRASH")
        def test_crash():
            os._exit(1)

        @pytest.mark.qahub("XD-AFTER")
        def test_after():
            pass
        """
    )
    result = qahub_run.pytest("-n", "2")
    result.assert_outcomes(passed=1, failed=1)
    rows = qahub_run.rows()
    assert rows["XD-AFTER"]["status"] == "PASSED"
    assert rows["XD-CRASH"]["status"] == "UNKNOWN"
    assert "crashed while running" in rows["XD-CRASH"]["error_message"]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_reruns_count_the_final_attempt_with_and_without_workers(qahub_run: QAHubRun, workers: str) -> None:
    make_cases(qahub_run.server, "XD-RERUN")
    qahub_run.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qahub("XD-RERUN")
        def test_flaky(tmp_path_factory):
            marker = tmp_path_factory.getbasetemp().parent.parent / "attempts"
            count = int(marker.read_text()) + 1 if marker.exists() else 1
            marker.write_text(str(count))
            assert count >= 2
        """
    )
    qahub_run.pytest("-n", workers, "--reruns=3").assert_outcomes(passed=1)
    row = qahub_run.rows()["XD-RERUN"]
    assert (row["status"], row["comment"]) == ("PASSED", "passed on attempt 2 of 4")


XD_MAPPED = """
import pytest

@pytest.mark.qahub("XD-KNOWN")
def test_known():
    pass

@pytest.mark.qahub("XD-MISSING-CODE")
def test_missing():
    pass
"""
XD_WARNING = "*QAHubWarning: QAHub: 1 test case code(s) do not exist*: XD-MISSING-CODE"


def test_unknown_codes_are_named_once_under_xdist(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "XD-KNOWN")
    qahub_run.pytester.makepyfile(XD_MAPPED)
    result = qahub_run.pytest("-n", "2", "-W", "default")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([XD_WARNING, "*unknown test case codes (not sent): XD-MISSING-CODE"])
    assert result.stdout.str().count("do not exist in the project") == 1
    assert qahub_run.statuses() == {"XD-KNOWN": "PASSED"}


def test_under_xdist_unknown_codes_are_named_before_any_result_arrives(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "XD-KNOWN")
    qahub_run.pytester.makepyfile(XD_MAPPED)
    # On the controller: how many reports had arrived when our warning was recorded.
    qahub_run.pytester.makeconftest(
        """
        import json
        from pathlib import Path

        reports = []

        def pytest_runtest_logreport(report):
            reports.append(report.nodeid)

        def pytest_warning_recorded(warning_message, when, nodeid, location):
            if "do not exist in the project" in str(warning_message.message):
                Path("warned-after").write_text(json.dumps(len(reports)))

        def pytest_collection_finish(session):
            # On a worker: the order pluggy calls this hook's implementations in.
            if hasattr(session.config, "workerinput"):
                hook = session.config.hook.pytest_collection_finish
                called = [type(impl.plugin).__name__ for impl in reversed(hook.get_hookimpls())]
                worker = session.config.workerinput["workerid"]
                Path(f"called-on-{worker}").write_text(json.dumps(called))
        """
    )
    result = qahub_run.pytest("-n", "2", "-W", "default")
    result.assert_outcomes(passed=2)
    assert (qahub_run.pytester.path / "warned-after").read_text() == "0"
    # Why it cannot be later: the first worker warns before xdist tells the controller that
    # its collection is done, and the controller starts no test before that.
    called = json.loads((qahub_run.pytester.path / "called-on-gw0").read_text())
    assert called.index("Capture") < called.index("WorkerWarnings") < called.index("WorkerInteractor")


def test_under_xdist_a_worker_that_warned_and_crashed_leaves_one_warning(qahub_run: QAHubRun) -> None:
    # gw0 warns after its collection, then dies in the test of the unknown code: that test's
    # UNKNOWN result names the code again at the end, and must not bring a second warning.
    make_cases(qahub_run.server, "XD-KNOWN")
    qahub_run.pytester.makepyfile(
        """
        import os

        import pytest

        @pytest.mark.qahub("XD-KNOWN")
        def test_known():
            pass

        @pytest.mark.qahub("XD-MISSING-CODE")
        def test_missing():
            if os.environ.get("PYTEST_XDIST_WORKER") == "gw0":
                os._exit(1)
        """
    )
    result = qahub_run.pytest("-n", "1", "-W", "default")
    result.stdout.fnmatch_lines([XD_WARNING])
    assert result.stdout.str().count("do not exist in the project") == 1


def test_under_xdist_with_warnings_as_errors_unknown_codes_of_tests_never_run_are_named(
    qahub_run: QAHubRun,
) -> None:
    make_cases(qahub_run.server, "XD-KNOWN")
    qahub_run.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qahub("XD-KNOWN")
        def test_a_fails():
            assert False

        @pytest.mark.qahub("XD-MISSING-LATER")
        def test_b_never_runs():
            pass
        """
    )
    result = qahub_run.pytest("-n", "1", "-x", "-W", "error::pytest_qahub.warning.QAHubWarning")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  unknown test case codes (not sent): XD-MISSING-LATER"])
    assert result.stdout.str().count("XD-MISSING-LATER") == 1


def test_under_xdist_with_warnings_as_errors_the_summary_names_unknown_codes(qahub_run: QAHubRun) -> None:
    # The worker cannot warn (-W error): the controller says it at the end, in the summary.
    make_cases(qahub_run.server, "XD-KNOWN")
    qahub_run.pytester.makepyfile(XD_MAPPED)
    result = qahub_run.pytest("-n", "2", "-W", "error::pytest_qahub.warning.QAHubWarning")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["  unknown test case codes (not sent): XD-MISSING-CODE"])
    assert result.stdout.str().count("XD-MISSING-CODE") == 1
    assert "QAHubWarning" not in result.stdout.str()
    assert qahub_run.statuses() == {"XD-KNOWN": "PASSED"}


KEPT_PAYLOADS_CONFTEST = """
import pytest

@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    # pytest keeps every report it logs until the end: count those still carrying our payload.
    stats = session.config.pluginmanager.get_plugin("terminalreporter").stats
    kept = [
        f"{report.nodeid} {report.when} {name}"
        for reports in stats.values()
        for report in reports
        for name in vars(report)
        if name.startswith("qahub_")
    ]
    process = getattr(session.config, "workerinput", {}).get("workerid", "main")
    (session.config.rootpath / f"kept-{process}.txt").write_text("\\n".join(kept))
"""


@pytest.mark.parametrize("options", [["-n", "2"], ["-p", "no:xdist", "--reruns=1"]], ids=["xdist", "reruns"])
def test_reports_kept_by_pytest_carry_no_payload_of_ours(qahub_run: QAHubRun, options: list[str]) -> None:
    make_cases(qahub_run.server, "XD-KEPT-PASS", "XD-KEPT-FAIL", "XD-KEPT-FILE")
    qahub_run.pytester.makeconftest(KEPT_PAYLOADS_CONFTEST)
    qahub_run.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qahub("XD-KEPT-PASS")
        def test_pass():
            pass

        @pytest.mark.qahub("XD-KEPT-FAIL")
        def test_fail():
            assert 1 == 2

        @pytest.mark.qahub("XD-KEPT-FILE")
        def test_file(qahub_attach):
            qahub_attach(b"a log line", name="log.txt")
        """
    )
    result = qahub_run.pytest(*options)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*sent 3, rejected 0, waiting in journal 0*"])
    statuses = qahub_run.statuses()
    assert statuses == {"XD-KEPT-PASS": "PASSED", "XD-KEPT-FAIL": "FAILED", "XD-KEPT-FILE": "PASSED"}
    kept = {path.name: path.read_text() for path in qahub_run.pytester.path.glob("kept-*.txt")}
    processes = {"kept-main.txt", "kept-gw0.txt", "kept-gw1.txt"} if "-n" in options else {"kept-main.txt"}
    assert set(kept) == processes  # the controller and each worker, or the only process
    assert kept == dict.fromkeys(processes, "")
