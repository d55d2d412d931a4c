"""Unit tests: report -> status rules, and aggregation of items sharing a code."""

from __future__ import annotations

import doctest
from typing import Any

import pytest

from pytest_qahub.status import (
    BROKEN,
    FAILED,
    PASSED,
    SKIPPED,
    UNKNOWN,
    PhaseOutcome,
    aggregate,
    api_result,
    combine_phases,
    passed_payload,
    phase_outcome,
    worst,
)


def report(when: str, outcome: str, longrepr: Any = None, **extra: Any) -> pytest.TestReport:
    return pytest.TestReport("t.py::test_x", ("t.py", 1, "test_x"), {}, outcome, longrepr, when, **extra)


def excinfo(exc: BaseException) -> pytest.ExceptionInfo[BaseException]:
    with pytest.raises(type(exc)) as raised:
        raise exc
    return raised


def test_it_marks_assertion_errors_failed() -> None:
    outcome = phase_outcome(report("call", "failed", "E assert 1 == 2"), excinfo(AssertionError()))
    assert outcome is not None and outcome.status == FAILED


def test_it_marks_assertion_error_subclasses_failed() -> None:
    class Mismatch(AssertionError):
        pass

    outcome = phase_outcome(report("call", "failed", "E Mismatch"), excinfo(Mismatch()))
    assert outcome is not None and outcome.status == FAILED


def test_it_marks_pytest_fail_failed() -> None:
    with pytest.raises(pytest.fail.Exception) as raised:
        pytest.fail("nope")
    outcome = phase_outcome(report("call", "failed", "Failed: nope"), raised)
    assert outcome is not None and outcome.status == FAILED


def test_it_marks_other_exceptions_broken() -> None:
    outcome = phase_outcome(report("call", "failed", "E KeyError"), excinfo(KeyError("k")))
    assert outcome == PhaseOutcome(BROKEN, "E KeyError", "E KeyError")


@pytest.mark.parametrize("when", ["setup", "teardown"])
def test_it_marks_setup_and_teardown_errors_broken_even_for_assertions(when: str) -> None:
    outcome = phase_outcome(report(when, "failed", "E assert 0"), excinfo(AssertionError()))
    assert outcome is not None and outcome.status == BROKEN


def test_the_message_is_the_first_line_and_the_stack_the_whole_explanation() -> None:
    raised = excinfo(AssertionError("ratio 0.75 is not 1.0\n +  where 0.75 = ratio()"))
    outcome = phase_outcome(report("call", "failed", raised.getrepr()), raised)
    assert outcome is not None and outcome.status == FAILED
    assert outcome.message == "AssertionError: ratio 0.75 is not 1.0"
    assert outcome.stack is not None and "where 0.75 = ratio()" in outcome.stack


def test_a_skip_reason_of_several_lines_keeps_its_first_as_the_message() -> None:
    outcome = phase_outcome(report("setup", "skipped", ("t.py", 3, "Skipped: no GPU\nsee CI.md")), None)
    assert outcome == PhaseOutcome(SKIPPED, "no GPU", "no GPU\nsee CI.md")


def doctest_failure(source: str) -> pytest.ExceptionInfo[BaseException]:
    """What running a docstring's examples raises, as pytest's doctest runner raises it."""
    test = doctest.DocTestParser().get_doctest(source, {}, "example", "example.py", 146)
    with pytest.raises((doctest.DocTestFailure, doctest.UnexpectedException)) as raised:
        doctest.DebugRunner(verbose=False).run(test)
    return raised


def test_a_doctest_whose_output_differs_failed_expecting_and_getting() -> None:
    outcome = phase_outcome(report("call", "failed", "147"), doctest_failure(">>> 1 + 1\n3\n"))
    assert outcome == PhaseOutcome(FAILED, "Expected: 3 / Got: 2", "147")


def test_a_doctest_example_that_raises_is_broken_naming_the_exception() -> None:
    outcome = phase_outcome(report("call", "failed", "147"), doctest_failure(">>> int('x')\n0\n"))
    assert outcome is not None and outcome.status == BROKEN
    assert outcome.message == "ValueError: invalid literal for int() with base 10: 'x'"


def test_an_exception_that_cannot_be_shown_is_named_by_its_type() -> None:
    source = (
        ">>> class Odd(Exception):\n"
        "...     def __str__(self):\n"
        "...         raise RuntimeError\n"
        ">>> raise Odd()\n"
    )
    outcome = phase_outcome(report("call", "failed", "147"), doctest_failure(source))
    assert outcome is not None and (outcome.status, outcome.message) == (BROKEN, "Odd")


def test_a_doctest_example_whose_assert_fails_is_failed() -> None:
    outcome = phase_outcome(report("call", "failed", "147"), doctest_failure(">>> assert 1 == 2\n"))
    assert outcome is not None and (outcome.status, outcome.message) == (FAILED, "AssertionError")


def test_it_marks_skips_skipped_with_the_reason() -> None:
    outcome = phase_outcome(report("setup", "skipped", ("t.py", 3, "Skipped: not today")), None)
    assert outcome == PhaseOutcome(SKIPPED, "not today")


def test_it_marks_xfail_skipped() -> None:
    xfailed = report("call", "skipped", ("t.py", 3, "reason"), wasxfail="known bug")
    assert phase_outcome(xfailed, excinfo(AssertionError())) == PhaseOutcome(SKIPPED, "xfail: known bug")


def test_it_marks_a_non_strict_xpass_passed() -> None:
    xpassed = report("call", "passed", None, wasxfail="known bug")
    assert phase_outcome(xpassed, None) == PhaseOutcome(PASSED)


def test_it_marks_a_strict_xpass_failed() -> None:
    outcome = phase_outcome(report("call", "failed", "[XPASS(strict)] known bug"), None)
    assert outcome == PhaseOutcome(FAILED, "[XPASS(strict)] known bug", "[XPASS(strict)] known bug")


def test_it_ignores_passing_setup_and_teardown() -> None:
    assert phase_outcome(report("setup", "passed"), None) is None
    assert phase_outcome(report("teardown", "passed"), None) is None


def test_worst_status_wins_in_the_documented_order() -> None:
    order = [SKIPPED, PASSED, UNKNOWN, BROKEN, FAILED]
    for index, status in enumerate(order):
        assert worst(order[: index + 1]) == status
        assert worst(reversed(order[: index + 1])) == status
    assert worst([]) == UNKNOWN


def test_a_teardown_error_after_a_pass_breaks_the_item() -> None:
    combined = combine_phases([PhaseOutcome(PASSED), PhaseOutcome(BROKEN, "boom", "stack")])
    assert combined == PhaseOutcome(BROKEN, "boom", "stack")


def test_an_item_without_phases_is_unknown() -> None:
    assert combine_phases([]).status == UNKNOWN


def item(index: int, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "nodeid": f"t.py::test_x[{index}]",
        "index": index,
        "param": str(index),
        "code": "TC-1",
        "group_size": 3,
        "status": status,
        "duration_ms": 10 * (index + 1),
        "executed_at": f"2026-01-01T00:00:0{index}.000+00:00",
        "framework": "pytest",
        **fields,
    }


def test_aggregation_keeps_the_worst_status_sums_durations_and_the_first_start() -> None:
    payload = aggregate([item(2, PASSED), item(0, SKIPPED), item(1, BROKEN)])
    assert payload["status"] == BROKEN
    assert payload["duration_ms"] == 60
    assert payload["executed_at"] == "2026-01-01T00:00:00.000+00:00"
    assert payload["test_case_code"] == "TC-1"


def test_aggregation_keeps_each_failing_parameters_message_and_stack() -> None:
    payload = aggregate(
        [
            item(0, FAILED, error_message="assert 1", error_stack="S1"),
            item(1, PASSED),
            item(2, BROKEN, error_message="KeyError", error_stack="S2"),
        ]
    )
    assert payload["error_message"] == "[0] assert 1\n[2] KeyError"
    assert payload["error_stack"] == "--- 0 ---\nS1\n\n--- 2 ---\nS2"


def test_aggregation_of_one_item_passes_its_fields_through() -> None:
    one = item(0, FAILED, group_size=1, error_message="m", error_stack="s", bug_ticket_key="B-1")
    payload = aggregate([one])
    assert payload == {
        "test_case_code": "TC-1",
        "status": FAILED,
        "duration_ms": 10,
        "framework": "pytest",
        "executed_at": one["executed_at"],
        "bug_ticket_key": "B-1",
        "error_message": "m",
        "error_stack": "s",
    }


@pytest.mark.parametrize("framework", ["pytest", "pytest-bdd", None])
def test_a_passed_payload_is_the_api_result_of_its_passed_item_key_for_key(framework: str | None) -> None:
    result = {
        "code": "TC-1",
        "status": PASSED,
        "duration_ms": 7,
        "framework": framework,
        "executed_at": "2026-12-02T20:00:00.000+00:00",
    }
    built = passed_payload("TC-1", "2026-12-02T20:00:00.000+00:00", 7, framework)
    assert list(built.items()) == list(api_result(result).items())


def test_aggregation_notes_parameters_that_never_finished() -> None:
    payload = aggregate([item(0, PASSED), item(1, PASSED)])
    assert payload["comment"] == "2 of 3 parameters finished"


def test_a_group_that_passed_keeps_the_messages_of_its_skipped_parameters() -> None:
    payload = aggregate([item(0, PASSED), item(1, SKIPPED, error_message="not on Windows"), item(2, PASSED)])
    assert payload["status"] == PASSED
    assert payload["error_message"] == "[1] not on Windows"


def test_a_group_that_failed_keeps_the_messages_of_its_skipped_parameters_too() -> None:
    payload = aggregate(
        [item(0, FAILED, error_message="assert 1"), item(1, SKIPPED, error_message="no GPU"), item(2, PASSED)]
    )
    assert payload["error_message"] == "[0] assert 1\n[1] no GPU"
