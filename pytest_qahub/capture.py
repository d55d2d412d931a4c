"""Capture each item's result where it runs (the only process, or an xdist worker).

Each phase is recorded from its report (``pytest_runtest_logreport``, a plain hook: three
calls per test, no wrapper). A phase that raised is classified by its exception, and a failed
setup or call screenshotted (``evidence.Evidence``), in ``pytest_exception_interact``: pytest
calls it as the phase fails, while the test's fixtures are alive, even where the reports are
logged later (pytest-rerunfailures logs an attempt's after its teardown).

At the teardown the item's result goes to the reporter (``deliver_to``). On an xdist worker it
rides instead on the reports xdist sends, as plain, serialisable attributes:

- ``report.qahub_item`` on the setup report: the item's case and start, enough to record an
  UNKNOWN result if the worker crashes before the item finishes;
- ``report.qahub_result`` on the teardown report: the item's full result, or
  ``report.qahub_passed`` for the commonest one (below).

The controller's ``reporter.ReportFeed`` takes them off (``take_payload``), and the worker
too once sent: pytest keeps every report. An attempt pytest-rerunfailures runs again gives no
result.

Nothing is kept per item beyond its own test: the collection's mapping is held as strings
(which the garbage collector does not track), only the running item has a state, and a result
leaves as soon as it is handed on. A session of thousands of tests must not give the collector
more objects to walk. The commonest result, a passed test reported alone to its case, travels
as its three fields only (``PASSED_ATTR``): a measured fast path, worth 10 k instructions a test
in ``bench/instructions.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest

from . import xdist
from .attach import ATTACHMENTS_ATTR, ERRORS_ATTR, EVIDENCE_KEY
from .evidence import Evidence
from .journal import json_line
from .mapping import CaseMapping, doc_title, map_item, name_title, param_id, plain_code
from .settings import Settings
from .status import (
    MESSAGE_LIMIT,
    PASSED,
    SEVERITY,
    STACK_LIMIT,
    UNKNOWN,
    PhaseOutcome,
    clip,
    combine_phases,
    phase_outcome,
)
from .warning import Notices, describe

ITEM_ATTR = "qahub_item"
RESULT_ATTR = "qahub_result"
#: (code, executed_at, duration_ms) of an item that passed alone on its case, with nothing else to say.
PASSED_ATTR = "qahub_passed"
#: Every attribute the capture puts on reports.
PAYLOAD_ATTRS = (ITEM_ATTR, RESULT_ATTR, PASSED_ATTR, ATTACHMENTS_ATTR, ERRORS_ATTR)


class ResultSink(Protocol):
    """Takes results as items end (the reporter, in the process that owns the session)."""

    def take(
        self,
        nodeid: str,
        result: dict[str, Any] | None,
        files: Sequence[dict[str, str]],
        errors: Sequence[str],
    ) -> None: ...

    def take_passed_alone(self, code: str, nodeid: str, executed_at: str, duration_ms: int) -> None: ...


def take_payload(report: pytest.TestReport) -> dict[str, Any]:
    """Take the attributes of ours off a report; return them by name.

    pytest keeps every report it logs until the session ends (``terminalreporter.stats``, on an
    xdist controller and on each worker): a payload left on them would stay for the whole suite.
    """
    attrs = vars(report)
    return {name: attrs.pop(name) for name in PAYLOAD_ATTRS if name in attrs}


@dataclass(slots=True)
class ItemState:
    """What is known about the running item (one attempt of it, under rerunfailures) between its phases.

    A process runs one item at a time, so the capture keeps one state, not one per item.
    """

    item: pytest.Item
    nodeid: str
    start: float
    #: What did not pass (its report, classified at the end), and CALL_PASSED for a passed call.
    phases: list[PhaseOutcome | pytest.TestReport] = field(default_factory=list)
    duration_ms: int = 0
    failed: bool = False  # a setup or call phase failed
    rerun: bool = False  # pytest-rerunfailures runs the item again: this attempt does not count


#: What a passed call contributes (the same for every test: outcomes are frozen).
CALL_PASSED = PhaseOutcome(PASSED)
#: Stands for "not mapped at collection" (not in `_codes`), where None means "mapped to no case".
_NOT_MAPPED = object()


#: ".000+00:00" ... ".999+00:00": the end of every timestamp, formatted once.
_MILLIS = tuple(f".{n:03d}+00:00" for n in range(1000))
#: The last second formatted, and its text; replaced whole, so threads never see half of it.
_last_second: tuple[float, str] = (math.nan, "")


def utc_iso(timestamp: float) -> str:
    """Format an epoch timestamp as UTC ISO 8601 with milliseconds.

    Same text as ``datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")``
    (microseconds rounded half-even, then cut to milliseconds), at a fraction of the cost:
    the tests of one second share its formatted part.
    """
    global _last_second
    fraction, second = math.modf(timestamp)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    elif micros < 0:  # before 1970: modf keeps the sign
        second, micros = second - 1, micros + 1_000_000
    cached, text = _last_second
    if cached != second:
        text = datetime.fromtimestamp(int(second), UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (second, text)
    return text + _MILLIS[micros // 1000]


def _attempts(item: pytest.Item) -> tuple[int, int | None]:
    """Return (this attempt, maximum attempts) under pytest-rerunfailures."""
    attempt = int(getattr(item, "execution_count", 1) or 1)
    if attempt == 1:
        return attempt, None  # the common case: no need to ask rerunfailures
    try:
        from pytest_rerunfailures import get_reruns_count
    except ImportError:
        return attempt, None
    reruns = get_reruns_count(item)
    return attempt, (int(reruns) + 1 if reruns is not None else None)


class Capture:
    """Plugin object computing per-item results and failure evidence; registered whenever a run is set."""

    def __init__(self, config: pytest.Config, settings: Settings, evidence: Evidence) -> None:
        self._config = config
        self._settings = settings
        self._evidence = evidence
        #: On an xdist worker, which may crash mid-item: each item's skeleton on its setup report.
        self._crash_safe = xdist.is_worker(config)
        #: The item between its setup and its teardown (for an interrupted session too).
        self._current: ItemState | None = None
        #: The item pytest's protocol runs now (its reports carry only its node id).
        self._item: pytest.Item | None = None
        #: id(report) -> the outcome of a phase that raised, from its exception (until its teardown).
        self._raised: dict[int, PhaseOutcome] = {}
        #: Where results go in the process that owns the session; None on an xdist worker, whose
        #: results ride on the reports xdist sends to the controller.
        self._sink: ResultSink | None = None
        self._group_sizes: dict[str, int] = {}  # code -> how many items report to it
        self._indexes: dict[str, int] = {}  # nodeid -> position in the session
        self._codes: dict[str, str | None] = {}  # nodeid -> code (None: unmapped, skipped)
        self._mapped_beyond_code: dict[str, CaseMapping] = {}  # mappings that say more than a code
        #: nodeid -> code, for the items that may take the fast path: alone on a code, mapped to
        #: no more than it (on a worker that creates cases, none: the controller could not title them).
        self._fast: dict[str, str] = {}
        self._result_hook = config.hook.pytest_qahub_result
        #: Whether a plugin implements `pytest_qahub_result` (asked once per registration, not per test).
        self._results_adjusted = bool(self._result_hook.get_hookimpls())
        #: Missing cases are created (the embedded collector, or --qahub-unmapped=create).
        self._creates = settings.creates_cases
        #: The session's items, for the docstring of an item whose case is created (rare: asked then).
        self._items: list[pytest.Item] = []
        #: Codes that must exist in the project (not created by the plugin), for the warning.
        self.codes_to_check: set[str] = set()
        #: Problems in the suite worked around (a bad marker, a hook that raised), each told once.
        self.notices = Notices(config)

    def deliver_to(self, sink: ResultSink) -> None:
        """Hand each result to sink as its item ends, not on its reports (no xdist worker here)."""
        self._sink = sink

    def pytest_plugin_registered(self) -> None:
        """A plugin (a conftest.py too) may implement `pytest_qahub_result`: ask again."""
        self._results_adjusted = bool(self._result_hook.get_hookimpls())

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Map every item and count how many items share each code."""
        self._group_sizes.clear()
        unmapped, creates, sizes = self._settings.unmapped, self._creates, self._group_sizes
        notices = self.notices
        indexes, codes, to_check = self._indexes, self._codes, self.codes_to_check
        self._items = session.items
        for index, item in enumerate(session.items):
            nodeid = item.nodeid
            indexes[nodeid] = index
            code = plain_code(item)
            if code is None:  # not the commonest marker: the full rules
                mapping = map_item(item, unmapped, creates, notices)
                if mapping is None:
                    codes[nodeid] = None
                    continue
                code = mapping.code
                if mapping[1:] != (None, None, None, self.create_title(nodeid)):  # more than a code
                    self._mapped_beyond_code[nodeid] = mapping
                if not mapping.create_title:
                    to_check.add(code)
            elif not creates:  # else the cases it lacks are created
                to_check.add(code)
            codes[nodeid] = code
            sizes[code] = sizes.get(code, 0) + 1  # a Counter would call __missing__ for each code
        if self._crash_safe and creates:
            self._fast = {}
            return
        self._fast = {
            nodeid: code
            for nodeid, code in self._codes.items()
            if code is not None and sizes[code] == 1 and nodeid not in self._mapped_beyond_code
        }

    def create_title(self, nodeid: str) -> str | None:
        """The title of the case a code alone creates when missing (its docstring or its name),
        or None when the session creates no cases."""
        if not self._creates:
            return None
        index = self._indexes.get(nodeid, -1)
        item = self._items[index] if 0 <= index < len(self._items) else None
        doc = doc_title(item) if item is not None and item.nodeid == nodeid else None
        return doc or name_title(nodeid)

    def _code_mapping(self, nodeid: str, code: str) -> CaseMapping:
        """The mapping of a code alone (what most items have), rebuilt from strings when needed."""
        return CaseMapping(code, create_title=self.create_title(nodeid))

    def _mapping(self, item: pytest.Item) -> CaseMapping | None:
        nodeid = item.nodeid
        code = self._codes.get(nodeid, _NOT_MAPPED)
        if code is _NOT_MAPPED:  # an item added after collection finished
            return map_item(item, self._settings.unmapped, self._creates, self.notices)
        if code is None:
            return None
        return self._mapped_beyond_code.get(nodeid) or self._code_mapping(nodeid, code)  # type: ignore[arg-type]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> None:
        """Note the item pytest is about to run: its reports name it only by its node id."""
        self._item = item

    @pytest.hookimpl(tryfirst=True)
    def pytest_exception_interact(
        self,
        node: pytest.Item | pytest.Collector,
        call: pytest.CallInfo[Any],
        report: pytest.TestReport | pytest.CollectReport,
    ) -> None:
        """A phase raised: classify it by its exception, and screenshot a failed setup or call now,
        while the browser still shows it (its report may be logged only after the teardown)."""
        if not isinstance(report, pytest.TestReport) or not report.failed:
            return
        self._raised[id(report)] = phase_outcome(report, call.excinfo)
        if report.when != "teardown" and isinstance(node, pytest.Item):
            self._evidence.failed(node)

    @pytest.hookimpl(tryfirst=True)  # before an xdist worker sends the report on
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Record each phase; at the teardown, hand the item's result on."""
        when = report.when
        if when == "setup":
            state: ItemState | None = self._start(report)
        else:
            state = self._current
            if state is not None and state.nodeid != report.nodeid:
                state = None
        if state is None:
            return
        if report.outcome != "passed":  # the attribute: `report.passed` is a property, a call
            state.phases.append(report)  # classified at the teardown, after its exception is seen
            if report.outcome == "rerun":
                state.rerun = True
            elif when != "teardown" and report.outcome == "failed":
                state.failed = True
        elif when == "call":  # a passed setup or teardown adds nothing
            state.phases.append(CALL_PASSED)
        if when == "call":
            state.duration_ms = round(report.duration * 1000)
        elif when == "teardown":
            self._finish(state, report)

    def _start(self, setup: pytest.TestReport) -> ItemState | None:
        """Begin an attempt of the item: its state; on an xdist worker, its data on the setup report."""
        nodeid = setup.nodeid
        item = self._item
        if item is None or item.nodeid != nodeid:  # run by other means than pytest's protocol
            index = self._indexes.get(nodeid, -1)
            item = self._items[index] if 0 <= index < len(self._items) else None
            if item is None or item.nodeid != nodeid:
                self._current = None
                return None
        state = self._current = ItemState(item, nodeid, setup.start)
        if self._crash_safe:
            setattr(setup, ITEM_ATTR, self._skeleton(item, state))
        return state

    def _finish(self, state: ItemState, teardown: pytest.TestReport) -> None:
        """Hand the item's result and evidence on: to the reporter, or on the teardown report."""
        self._current = None
        item = state.item
        if not state.rerun and self._passed_alone(item, state, teardown):
            return
        files, errors = self._evidence.finish(item, state.failed and not state.rerun)
        result = None if state.rerun else self._result(item, state)
        self._raised.clear()  # every exception of the attempt has been seen by now
        sink = self._sink
        if sink is not None:
            sink.take(state.nodeid, result, files, errors)
            return
        if result is not None:
            setattr(teardown, RESULT_ATTR, result)
        if files:
            setattr(teardown, ATTACHMENTS_ATTR, list(files))
        if errors:
            setattr(teardown, ERRORS_ATTR, list(errors))

    def unfinished(self) -> dict[str, Any] | None:
        """The UNKNOWN result of the item this process was running when the session stopped
        (Ctrl-C, -x in a fixture), once; None when it was running none."""
        state, self._current = self._current, None
        if state is None:
            return None
        return dict(self._skeleton(state.item, state), error_message="the test did not finish")

    def _outcomes(self, state: ItemState) -> list[PhaseOutcome]:
        """The phases' outcomes; a phase that raised is classified by its exception."""
        raised = self._raised
        return [
            phase if type(phase) is PhaseOutcome else raised.get(id(phase)) or phase_outcome(phase, None)
            for phase in state.phases
        ]

    def _skeleton(self, item: pytest.Item, state: ItemState) -> dict[str, Any]:
        """Build an item's result as far as it is known at setup: UNKNOWN until it ends."""
        mapping = self._mapping(item)
        return {
            "nodeid": item.nodeid,
            "index": self._indexes.get(item.nodeid, len(self._indexes)),
            "param": param_id(item),
            "code": mapping.code if mapping else None,
            "group_size": self._group_sizes.get(mapping.code, 1) if mapping else 1,
            "create_title": mapping.create_title if mapping else None,
            "status": UNKNOWN,
            "executed_at": utc_iso(state.start),
            "duration_ms": 0,
            "framework": self._settings.framework,
            "bug_ticket_key": mapping.bug_ticket_key if mapping else None,
            "bug_ticket_url": mapping.bug_ticket_url if mapping else None,
            "comment": mapping.comment if mapping else None,
            "error_message": None,
            "error_stack": None,
        }

    def _passed_alone(self, item: pytest.Item, state: ItemState, teardown: pytest.TestReport) -> bool:
        """Hand on an item that passed at its first attempt, alone on its case, as its three fields
        (to the reporter, or on its teardown report as ``PASSED_ATTR``).

        Returns False, doing nothing, for any other item, when it has attachments or capture
        errors, or when a hook adjusts results.
        """
        code = self._fast.get(state.nodeid)
        phases = state.phases
        if (
            code is None
            or len(phases) != 1
            or phases[0] is not CALL_PASSED
            or self._results_adjusted
            or getattr(item, "execution_count", 1) != 1
            or EVIDENCE_KEY in item.stash
        ):
            return False
        if self._sink is not None:
            self._sink.take_passed_alone(code, state.nodeid, utc_iso(state.start), state.duration_ms)
        else:
            setattr(teardown, PASSED_ATTR, (code, utc_iso(state.start), state.duration_ms))
        return True

    def _result(self, item: pytest.Item, state: ItemState) -> dict[str, Any]:
        """The item's full result at its teardown (the keys and their order of the skeleton)."""
        combined = combine_phases(self._outcomes(state))
        result = self._skeleton(item, state)
        result["status"] = combined.status
        result["duration_ms"] = state.duration_ms
        result["error_message"] = clip(combined.message, MESSAGE_LIMIT)
        result["error_stack"] = clip(combined.stack, STACK_LIMIT)
        attempt, attempts = _attempts(item)
        if attempt > 1:
            note = f"{combined.status.lower()} on attempt {attempt}"
            note += f" of {attempts}" if attempts else ""
            result["comment"] = "\n".join(filter(None, [result["comment"], note]))
        if self._results_adjusted:  # calling a hook nobody implements still costs microseconds
            return self._adjusted(item, result)
        return result

    def _adjusted(self, item: pytest.Item, result: dict[str, Any]) -> dict[str, Any]:
        """The result as ``pytest_qahub_result`` adjusts it; as it was if the hook raised or spoilt it."""
        adjusted = dict(result)
        try:
            self._result_hook(item=item, result=adjusted)
            problem = _unfit(adjusted)
        except Exception as ex:  # a conftest's hook may raise anything; pytest must not see it
            problem = f"raised {describe(ex)}"
        if problem is None:
            return adjusted
        self.notices.tell(
            f"pytest_qahub_result {problem.split()[0]}",  # once for each kind of problem
            f"QAHub: pytest_qahub_result {problem} for {item.nodeid}; where it does, "
            "the result is sent as the plugin made it",
            shared=False,  # each process runs other tests
        )
        return result


def _unfit(result: dict[str, Any]) -> str | None:
    """What makes an adjusted result unfit to journal and send, or None."""
    status = result.get("status")
    if status not in SEVERITY:
        return f"set status {status!r}, not one of {', '.join(SEVERITY)}"
    for key in ("index", "group_size"):
        if type(result.get(key)) is not int:
            return f"changed the plugin's {key!r} to {result.get(key)!r}"
    try:
        json_line(result)
    except TypeError as ex:
        return f"left a value that is not JSON ({ex})"
    return None
