"""Turn pytest reports into QAHub statuses and combine several results into one."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from qahub_contract import BROKEN, FAILED, PASSED, SKIPPED, UNKNOWN

from .warning import describe

#: Worst wins when statuses are combined: FAILED > BROKEN > UNKNOWN > PASSED > SKIPPED.
SEVERITY = {SKIPPED: 0, PASSED: 1, UNKNOWN: 2, BROKEN: 3, FAILED: 4}

MESSAGE_LIMIT = 4_000
STACK_LIMIT = 64_000

#: Exceptions that mean "the check failed" rather than "the test broke".
_ASSERTION_ERRORS: tuple[type[BaseException], ...] = (AssertionError, pytest.fail.Exception)


@dataclass(frozen=True)
class PhaseOutcome:
    """What one phase (setup, call, teardown) contributes to an item's result."""

    status: str
    message: str | None = None
    stack: str | None = None


def worst(statuses: Iterable[str]) -> str:
    """Return the most severe status, UNKNOWN when there is none."""
    return max(statuses, key=SEVERITY.__getitem__, default=UNKNOWN)


def clip(text: str | None, limit: int) -> str | None:
    """Shorten text to at most limit characters, keeping its end (where errors are)."""
    if text is None or len(text) <= limit:
        return text
    return "..." + text[-(limit - 3) :]


def first_line(text: str | None) -> str | None:
    """The first line of text that is not blank, as pytest's short summary shows a message."""
    if text is None:
        return None
    for line in text.splitlines():
        if line.strip():
            return line.rstrip()
    return None


def _full_message(report: pytest.TestReport) -> str | None:
    """The message pytest gives for a report (crash message, skip reason), every line of it."""
    longrepr = report.longrepr
    if longrepr is None:
        return None
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    return str(longrepr)


def short_message(report: pytest.TestReport) -> str | None:
    """Return the one-line message pytest shows for a report (crash message, skip reason)."""
    return first_line(_full_message(report))


def _skipped(message: str | None) -> PhaseOutcome:
    """A skip: its reason's first line; a reason of several lines is kept whole as the stack."""
    several = message is not None and "\n" in message.strip()
    return PhaseOutcome(SKIPPED, first_line(message), message if several else None)


def phase_outcome(
    report: pytest.TestReport, excinfo: pytest.ExceptionInfo[BaseException] | None
) -> PhaseOutcome | None:
    """Classify one phase report; None for a setup or teardown that passed."""
    if report.skipped:
        if hasattr(report, "wasxfail"):
            reason = str(report.wasxfail) or "expected failure"
            return _skipped(f"xfail: {reason}")
        return _skipped(_full_message(report))
    if report.passed:
        # A non-strict xpass is a passed call with `wasxfail`: PASSED.
        return PhaseOutcome(PASSED) if report.when == "call" else None
    stack = str(report.longrepr) if report.longrepr is not None else None
    doctest = _doctest_outcome(excinfo) if excinfo is not None and report.when == "call" else None
    if doctest is not None:
        return PhaseOutcome(doctest[0], doctest[1], stack)
    message = short_message(report)
    if report.when != "call":
        return PhaseOutcome(BROKEN, message, stack)
    if excinfo is None or excinfo.errisinstance(_ASSERTION_ERRORS):
        # No exception on a failed call: a strict xpass ("[XPASS(strict)] ...").
        return PhaseOutcome(FAILED, message, stack)
    return PhaseOutcome(BROKEN, message, stack)


def _doctest_outcome(excinfo: pytest.ExceptionInfo[BaseException]) -> tuple[str, str] | None:
    """The status and message of a failed doctest, or None for any other failure.

    An output that differs from the expected one is the doctest's assertion: FAILED,
    ``Expected: 3 / Got: 2``. An exception raised by an example is BROKEN, and named
    (an ``AssertionError`` is FAILED, as in any test).
    """
    doctest = sys.modules.get("doctest")
    if doctest is None:  # not imported: no doctest ran
        return None
    value = excinfo.value
    if isinstance(value, doctest.DocTestFailure | doctest.UnexpectedException):
        failures = [value]
    elif type(value).__name__ == "MultipleDoctestFailures":  # pytest's, with --doctest-continue-on-failure
        failures = list(getattr(value, "failures", None) or [])
    else:
        return None
    outcomes = [_doctest_failure(doctest, failure) for failure in failures]
    if not outcomes:
        return None
    status = worst(status for status, _ in outcomes)
    return status, next(message for found, message in outcomes if found == status)


def _doctest_failure(doctest: Any, failure: BaseException) -> tuple[str, str]:
    """The status and message of one failed doctest example."""
    if isinstance(failure, doctest.UnexpectedException):
        raised = failure.exc_info[1]
        status = FAILED if isinstance(raised, _ASSERTION_ERRORS) else BROKEN
        return status, describe(raised)
    expected = first_line(getattr(getattr(failure, "example", None), "want", None)) or "nothing"
    got = first_line(getattr(failure, "got", None)) or "nothing"
    return FAILED, f"Expected: {expected.strip()} / Got: {got.strip()}"


def combine_phases(outcomes: Sequence[PhaseOutcome]) -> PhaseOutcome:
    """Combine an item's phase outcomes: the worst status, its message, every stack."""
    if not outcomes:
        return PhaseOutcome(UNKNOWN, "the test did not finish")
    if len(outcomes) == 1 and outcomes[0].stack != "":  # most tests: only the call counts
        return outcomes[0]
    status = worst(outcome.status for outcome in outcomes)
    message = next(outcome.message for outcome in outcomes if outcome.status == status)
    stacks = [outcome.stack for outcome in outcomes if outcome.stack]
    return PhaseOutcome(status, message, "\n\n".join(stacks) or None)


def aggregate(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Combine the item results that share one case code into one API result.

    Worst status wins, durations add up, the earliest start is kept, and each
    parameter's message and stack are kept, prefixed with its parameter id.
    """
    if not results:
        raise ValueError("nothing to aggregate")
    if len(results) == 1 and results[0].get("group_size", 1) == 1:
        return api_result(results[0])  # most tests: a code of their own
    ordered = sorted(results, key=lambda result: result.get("index", 0))
    first = ordered[0]
    combined: dict[str, Any] = {
        "code": first["code"],
        "status": worst(result["status"] for result in ordered),
        "duration_ms": sum(int(result.get("duration_ms") or 0) for result in ordered),
        "framework": first.get("framework"),
        "executed_at": min(result["executed_at"] for result in ordered),
    }
    for key in ("bug_ticket_key", "bug_ticket_url"):
        combined[key] = next((result[key] for result in ordered if result.get(key)), None)
    comments = list(dict.fromkeys(result["comment"] for result in ordered if result.get("comment")))
    if first.get("group_size", len(ordered)) > len(ordered):
        comments.append(f"{len(ordered)} of {first['group_size']} parameters finished")
    combined["comment"] = "\n".join(comments)
    if len(ordered) == 1:
        message, stack = first.get("error_message"), first.get("error_stack")
    else:
        message, stack = _per_parameter(ordered)
    combined["error_message"], combined["error_stack"] = message, stack
    return api_result(combined)


def api_result(result: dict[str, Any]) -> dict[str, Any]:
    """The API result of an item's result (or of several combined): the one place it is built.

    The fields every API result has come first; the others only when they have a value.
    """
    payload = {
        "test_case_code": result["code"],
        "status": result["status"],
        "duration_ms": int(result.get("duration_ms") or 0),
        "framework": result.get("framework") or "pytest",
        "executed_at": result["executed_at"],
    }
    for key in ("bug_ticket_key", "bug_ticket_url", "comment"):
        if value := result.get(key):
            payload[key] = value
    if message := result.get("error_message"):
        payload["error_message"] = clip(message, MESSAGE_LIMIT)
    if stack := result.get("error_stack"):
        payload["error_stack"] = clip(stack, STACK_LIMIT)
    return payload


def passed_payload(code: str, executed_at: str, duration_ms: int, framework: str | None) -> dict[str, Any]:
    """The API result of an item that passed alone on its case: ``api_result`` of it, built
    directly (once per test in most sessions)."""
    return {
        "test_case_code": code,
        "status": PASSED,
        "duration_ms": duration_ms,
        "framework": framework or "pytest",
        "executed_at": executed_at,
    }


def _per_parameter(results: Sequence[dict[str, Any]]) -> tuple[str | None, str | None]:
    """Join the messages and stacks of the parameters that did not pass (skipped ones too)."""
    shown = [result for result in results if result["status"] != PASSED]
    messages = []
    for result in shown:
        message = result.get("error_message") or result["status"]
        messages.append(f"[{_parameter(result)}] " + message.replace("\n", "\n  "))
    stacks = [f"--- {_parameter(r)} ---\n{r['error_stack']}" for r in shown if r.get("error_stack")]
    return "\n".join(messages) or None, "\n\n".join(stacks) or None


def _parameter(result: dict[str, Any]) -> str:
    """Which parameter a result is, in the combined message."""
    return result.get("param") or result.get("nodeid") or "?"
