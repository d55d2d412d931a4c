"""End to end: pytest with the plugin against a real collector; rows checked over the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.plugin.conftest import QAHubRun, make_cases

STATUS_SUITE = """
import pytest

@pytest.fixture
def broken_setup():
    raise RuntimeError("setup exploded")

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown exploded")

@pytest.mark.qahub("ST-PASS")
def test_pass():
    pass

@pytest.mark.qahub("ST-ASSERT", bug="LIN-42", bug_url="https://bugs/LIN-42", comment="flaky UI")
def test_assert():
    assert 1 == 2, "numbers differ"

@pytest.mark.qahub("ST-FAIL")
def test_pytest_fail():
    pytest.fail("explicit failure")

@pytest.mark.qahub("ST-ERROR")
def test_other_exception():
    {}["missing"]

@pytest.mark.qahub("ST-SETUP")
def test_setup_error(broken_setup):
    pass

@pytest.mark.qahub("ST-TEARDOWN")
def test_teardown_error(broken_teardown):
    pass

@pytest.mark.qahub("ST-SKIP")
def test_skip():
    pytest.skip("not on this platform")

@pytest.mark.qahub("ST-SKIPIF")
@pytest.mark.skipif(True, reason="never here")
def test_skipif():
    pass

@pytest.mark.qahub("ST-XFAIL")
@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

@pytest.mark.qahub("ST-XPASS")
@pytest.mark.xfail(reason="was a bug")
def test_xpass():
    pass

@pytest.mark.qahub("ST-XPASS-STRICT")
@pytest.mark.xfail(reason="must fail", strict=True)
def test_xpass_strict():
    pass
"""

STATUS_CODES = {
    "ST-PASS": "PASSED",
    "ST-ASSERT": "FAILED",
    "ST-FAIL": "FAILED",
    "ST-ERROR": "BROKEN",
    "ST-SETUP": "BROKEN",
    "ST-TEARDOWN": "BROKEN",
    "ST-SKIP": "SKIPPED",
    "ST-SKIPIF": "SKIPPED",
    "ST-XFAIL": "SKIPPED",
    "ST-XPASS": "PASSED",
    "ST-XPASS-STRICT": "FAILED",
}


@pytest.fixture
def status_suite(qahub_run: QAHubRun) -> QAHubRun:
    make_cases(qahub_run.server, *STATUS_CODES)
    qahub_run.pytester.makepyfile(test_statuses=STATUS_SUITE)
    return qahub_run


def test_it_reports_every_status_rule(status_suite: QAHubRun) -> None:
    result = status_suite.pytest()
    result.assert_outcomes(passed=2, failed=4, errors=2, skipped=2, xfailed=1, xpassed=1)
    assert status_suite.statuses() == STATUS_CODES


@pytest.mark.parametrize("options", [("-n", "2"), ("-p", "no:xdist", "--reruns=1")], ids=["xdist", "reruns"])
def test_the_status_rules_hold_on_workers_and_under_reruns(
    status_suite: QAHubRun, options: tuple[str, ...]
) -> None:
    """FAILED or BROKEN is told by the exception, which pytest-rerunfailures shows before it logs
    the attempt's reports (and pytest after)."""
    status_suite.pytest(*options)
    assert status_suite.statuses() == STATUS_CODES


def test_it_sends_the_short_message_the_stack_and_the_marker_fields(
    status_suite: QAHubRun,
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    status_suite.pytest()
    rows = status_suite.rows()
    failed = rows["ST-ASSERT"]
    assert failed["error_message"] == "AssertionError: numbers differ"  # one line: the stack explains
    assert "def test_assert" in failed["error_stack"] and "assert 1 == 2" in failed["error_stack"]
    assert (failed["bug_ticket_key"], failed["bug_ticket_url"]) == ("LIN-42", "https://bugs/LIN-42")
    assert failed["comment"] == "flaky UI"
    assert failed["framework"] == "pytest"
    executed = datetime.fromisoformat(failed["executed_at"].replace("Z", "+00:00"))
    assert before <= executed <= datetime.now(UTC)
    assert rows["ST-FAIL"]["error_message"] == "Failed: explicit failure"
    assert rows["ST-ERROR"]["error_message"] == "KeyError: 'missing'"
    assert rows["ST-SETUP"]["error_message"] == "RuntimeError: setup exploded"
    assert rows["ST-TEARDOWN"]["error_message"] == "RuntimeError: teardown exploded"
    assert rows["ST-SKIP"]["error_message"] == "not on this platform"
    assert rows["ST-SKIPIF"]["error_message"] == "never here"
    assert rows["ST-XFAIL"]["error_message"] == "xfail: known bug"
    assert rows["ST-XPASS-STRICT"]["error_message"] == "[XPASS(strict)] must fail"
    assert rows["ST-PASS"]["error_message"] is None


def test_it_sends_the_call_duration_and_the_framework_label(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "DUR-1")
    qahub_run.pytester.makepyfile(
        """
        import time, pytest

        @pytest.fixture
        def slow_setup():
            time.sleep(0.3)

        @pytest.mark.qahub("DUR-1")
        def test_slow(slow_setup):
            time.sleep(0.2)
        """
    )
    qahub_run.pytest("--qahub-framework=playwright").assert_outcomes(passed=1)
    row = qahub_run.rows()["DUR-1"]
    assert 200 <= row["duration_ms"] < 300  # the call phase only, not the setup
    assert row["framework"] == "playwright"


def test_parametrized_items_sharing_a_code_become_one_result(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "PAR-1", "PAR-2")
    qahub_run.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qahub("PAR-1")
        @pytest.mark.parametrize("n", [1, 2, 3, 4])
        def test_numbers(n):
            if n == 2:
                assert n == 0, "two is wrong"
            if n == 3:
                raise ValueError("three broke")
            if n == 4:
                pytest.skip("four skipped")

        @pytest.mark.qahub("PAR-2")
        @pytest.mark.parametrize("n", [1, 2])
        def test_all_pass(n):
            pass
        """
    )
    qahub_run.pytest().assert_outcomes(passed=3, failed=2, skipped=1)
    rows = qahub_run.rows()
    assert set(rows) == {"PAR-1", "PAR-2"}
    assert rows["PAR-1"]["status"] == "FAILED"
    assert rows["PAR-1"]["error_message"] == (
        "[2] AssertionError: two is wrong\n[3] ValueError: three broke\n[4] four skipped"
    )
    assert "--- 2 ---" in rows["PAR-1"]["error_stack"]
    assert "--- 3 ---" in rows["PAR-1"]["error_stack"]
    assert rows["PAR-2"]["status"] == "PASSED"


def test_the_hooks_map_by_naming_convention_and_adjust_results(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "HOOK-7")
    qahub_run.pytester.makeconftest(
        """
        def pytest_qahub_test_case(item):
            if item.name.startswith("test_hook_"):
                return "HOOK-" + item.name.rsplit("_", 1)[1]

        def pytest_qahub_result(item, result):
            result["comment"] = "adjusted by " + item.name
        """
    )
    qahub_run.pytester.makepyfile("def test_hook_7(): pass")
    qahub_run.pytest().assert_outcomes(passed=1)
    row = qahub_run.rows()["HOOK-7"]
    assert (row["status"], row["comment"]) == ("PASSED", "adjusted by test_hook_7")


def test_a_rerun_test_reports_its_final_attempt_and_the_attempt_count(
    qahub_run: QAHubRun,
) -> None:
    make_cases(qahub_run.server, "RR-FLAKY", "RR-BAD", "RR-GOOD")
    qahub_run.pytester.makepyfile(
        """
        import pathlib, pytest

        @pytest.mark.qahub("RR-FLAKY")
        def test_flaky(tmp_path_factory):
            marker = tmp_path_factory.getbasetemp().parent / "attempts"
            count = int(marker.read_text()) + 1 if marker.exists() else 1
            marker.write_text(str(count))
            assert count >= 3, f"attempt {count}"

        @pytest.mark.qahub("RR-BAD")
        def test_always_fails():
            assert False, "always"

        @pytest.mark.qahub("RR-GOOD")
        def test_good():
            pass
        """
    )
    result = qahub_run.pytest("--reruns=2")
    result.assert_outcomes(passed=2, failed=1)
    assert result.parseoutcomes()["rerun"] == 4
    rows = qahub_run.rows()
    assert rows["RR-FLAKY"]["status"] == "PASSED"
    assert rows["RR-FLAKY"]["comment"] == "passed on attempt 3 of 3"
    assert rows["RR-BAD"]["status"] == "FAILED"
    assert rows["RR-BAD"]["comment"] == "failed on attempt 3 of 3"
    assert rows["RR-GOOD"]["comment"] is None


@pytest.mark.parametrize("reruns", [None, "--reruns=1"])
def test_a_plain_run_puts_nothing_on_the_reports(qahub_run: QAHubRun, reruns: str | None) -> None:
    """With reruns or without, results go straight to the reporter: pytest keeps every report, and
    other plugins see them as pytest made them. (Only an xdist worker's reports carry results.)"""
    make_cases(qahub_run.server, "RIDE-1", "RIDE-2")
    qahub_run.pytester.makeconftest(
        """
        import pytest

        carried, left = set(), set()

        @pytest.hookimpl(tryfirst=True)  # as each report is logged, before the plugin takes it
        def pytest_runtest_logreport(report):
            carried.update(name for name in vars(report) if name.startswith("qahub_"))

        class Last:
            @pytest.hookimpl(trylast=True)  # after the plugin took it
            def pytest_runtest_logreport(self, report):
                left.update(name for name in vars(report) if name.startswith("qahub_"))

        def pytest_configure(config):
            config.pluginmanager.register(Last(), "last")

        def pytest_terminal_summary(terminalreporter):
            terminalreporter.write_line(f"carried: {sorted(carried)} left: {sorted(left)}")
        """
    )
    qahub_run.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qahub("RIDE-1")
        def test_one():
            pass

        @pytest.mark.qahub("RIDE-2")
        def test_two():
            assert 1 == 2
        """
    )
    result = qahub_run.pytest(*filter(None, [reruns]))
    result.stdout.fnmatch_lines(["carried: [] left: []"])
    assert qahub_run.statuses() == {"RIDE-1": "PASSED", "RIDE-2": "FAILED"}


def test_a_test_that_never_finishes_is_unknown(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "INT-1", "INT-2")
    qahub_run.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qahub("INT-1")
        def test_first():
            pass

        @pytest.mark.qahub("INT-2")
        def test_interrupted():
            raise KeyboardInterrupt
        """
    )
    result = qahub_run.pytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    rows = qahub_run.rows()
    assert rows["INT-1"]["status"] == "PASSED"
    assert rows["INT-2"]["status"] == "UNKNOWN"
    assert rows["INT-2"]["error_message"] == "the test did not finish"


def test_results_reach_the_collector_while_later_tests_still_run(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "LIVE-1", "LIVE-2")
    qahub_run.pytester.makepyfile(
        f"""
        import os, time, pytest, requests

        @pytest.mark.qahub("LIVE-1")
        def test_first():
            pass

        @pytest.mark.qahub("LIVE-2")
        def test_second():
            url = os.environ["QAHUB_URL"] + "/api/v1/runs/{qahub_run.run_id}/results"
            headers = {{"Authorization": "Bearer " + os.environ["QAHUB_TOKEN"]}}
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                rows = requests.get(url, headers=headers, timeout=5).json()["data"]
                if [row["test_case_code"] for row in rows] == ["LIVE-1"]:
                    return
                time.sleep(0.05)
            pytest.fail("LIVE-1 was not delivered while the session ran")
        """
    )
    qahub_run.pytest().assert_outcomes(passed=2)
    assert qahub_run.statuses() == {"LIVE-1": "PASSED", "LIVE-2": "PASSED"}


def test_a_result_hook_in_a_folder_conftest_adjusts_passed_results_too(qahub_run: QAHubRun) -> None:
    """That conftest.py is registered during collection, after the plugin started."""
    make_cases(qahub_run.server, "SUB-1")
    sub = qahub_run.pytester.mkpydir("sub")
    (sub / "conftest.py").write_text(
        "def pytest_qahub_result(item, result):\n    result['comment'] = 'seen by sub/conftest.py'\n"
    )
    (sub / "test_sub.py").write_text(
        "import pytest\n\n@pytest.mark.qahub('SUB-1')\ndef test_one():\n    pass\n"
    )
    qahub_run.pytest().assert_outcomes(passed=1)
    row = qahub_run.rows()["SUB-1"]
    assert (row["status"], row["comment"]) == ("PASSED", "seen by sub/conftest.py")


def test_a_passed_test_alone_on_its_case_is_journaled_as_any_other_result(qahub_run: QAHubRun) -> None:
    """Such a result skips the full result dict; its journal record must not tell."""
    make_cases(qahub_run.server, "ALONE-1", "ALONE-2")
    qahub_run.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qahub("ALONE-1")
        def test_one():
            pass

        @pytest.mark.qahub("ALONE-2")
        def test_two():
            pass
        """
    )

    def journaled() -> list[dict]:
        (journal,) = qahub_run.journals()
        records = [json.loads(line) for line in journal.read_text().splitlines()]
        journal.unlink()
        results = [record for record in records if record["type"] == "result"]
        for record in results:
            assert record["result"].pop("executed_at").endswith("+00:00")
            assert isinstance(record["result"].pop("duration_ms"), int)
        return results

    qahub_run.pytest().assert_outcomes(passed=2)
    shortcut = journaled()
    # A result hook makes every result take the full path.
    qahub_run.pytester.makeconftest("def pytest_qahub_result(item, result):\n    pass\n")
    qahub_run.pytest().assert_outcomes(passed=2)
    assert journaled() == shortcut
    assert shortcut == [
        {
            "type": "result",
            "seq": 1,
            "result": {"test_case_code": "ALONE-1", "status": "PASSED", "framework": "pytest"},
        },
        {
            "type": "result",
            "seq": 2,
            "result": {"test_case_code": "ALONE-2", "status": "PASSED", "framework": "pytest"},
        },
    ]
