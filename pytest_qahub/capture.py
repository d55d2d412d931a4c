"""Capture each item's result where it runs (the only process, or an xdist worker).

The result travels on the reports as plain, serialisable attributes, so an xdist
controller receives exactly what a serial run computes:

- ``report.qahub_item`` on every setup report: the item's case and start, enough to
  record an UNKNOWN result if its worker crashes before the item finishes;
- ``report.qahub_result`` on every teardown report: the item's full result.

The same wrapper hands failures and teardowns to ``screenshots.Screenshots``, which puts the
item's attachments on the teardown report: one wrapper of ours per phase, where pluggy's cost
is per wrapper and call (three calls per test).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from .mapping import CaseMapping, map_item, param_id
from .screenshots import Screenshots
from .settings import Settings
from .status import (
    MESSAGE_LIMIT,
    PASSED,
    STACK_LIMIT,
    UNKNOWN,
    PhaseOutcome,
    clip,
    combine_phases,
    phase_outcome,
)

ITEM_ATTR = "qahub_item"
RESULT_ATTR = "qahub_result"


@dataclass(slots=True)
class ItemState:
    """What is known about an item (one attempt of it, under rerunfailures) between its phases."""

    skeleton: dict[str, Any]
    phases: list[PhaseOutcome] = field(default_factory=list)
    duration_ms: int = 0


MAPPING_KEY = pytest.StashKey[CaseMapping | None]()
STATE_KEY = pytest.StashKey[ItemState]()

#: What a passed call contributes (the same for every test: outcomes are frozen).
CALL_PASSED = PhaseOutcome(PASSED)
#: Stands for "not mapped yet" in the stash, where None means "mapped to no case".
_NOT_MAPPED = object()


@functools.lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def utc_iso(timestamp: float) -> str:
    """Format an epoch timestamp as UTC ISO 8601 with milliseconds.

    Same text as ``datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")``
    (microseconds rounded half-even, then cut to milliseconds), at a third of the cost: the
    tests of one second share its formatted part.
    """
    fraction, second = math.modf(timestamp)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    elif micros < 0:  # before 1970: modf keeps the sign
        second, micros = second - 1, micros + 1_000_000
    return f"{_utc_second(int(second))}.{micros // 1000:03d}+00:00"


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

    def __init__(self, config: pytest.Config, settings: Settings, screenshots: Screenshots) -> None:
        self._config = config
        self._settings = settings
        self._screenshots = screenshots
        self._group_sizes: Counter[str] = Counter()
        self._indexes: dict[pytest.Item, int] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Map every item and count how many items share each code."""
        self._group_sizes.clear()
        unmapped, embedded, sizes = self._settings.unmapped, self._settings.embedded, self._group_sizes
        for index, item in enumerate(session.items):
            mapping = map_item(item, unmapped, embedded)
            item.stash[MAPPING_KEY] = mapping
            self._indexes[item] = index
            if mapping is not None:
                sizes[mapping.code] += 1

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Record each phase; put the item's data on its setup report, its result on its teardown report."""
        report = yield
        when = report.when
        state = self._start(item, report) if when == "setup" else item.stash.get(STATE_KEY, None)
        if not report.passed:
            self._record_problem(item, state, report, call)
        elif when == "call" and state is not None:  # a passed setup or teardown adds nothing
            state.phases.append(CALL_PASSED)
        if when == "call" and state is not None:
            state.duration_ms = round(report.duration * 1000)
        elif when == "teardown":
            if state is not None:
                setattr(report, RESULT_ATTR, self._result(item, state))
                # Done with: kept until the session ends, it would only give the GC more to walk.
                del item.stash[STATE_KEY]
            self._screenshots.finish(item, report)
        return report

    def _start(self, item: pytest.Item, setup: pytest.TestReport) -> ItemState:
        """Begin an attempt of the item: its state, and its data on the setup report."""
        state = item.stash[STATE_KEY] = ItemState(self._skeleton(item, setup))
        setattr(setup, ITEM_ATTR, dict(state.skeleton))
        self._screenshots.start(item)
        return state

    def _record_problem(
        self,
        item: pytest.Item,
        state: ItemState | None,
        report: pytest.TestReport,
        call: pytest.CallInfo[None],
    ) -> None:
        """Record a phase that did not pass (failed or skipped); screenshot a failed setup or call."""
        if state is not None:
            outcome = phase_outcome(report, call.excinfo)
            if outcome is not None:
                state.phases.append(outcome)
        if report.failed and report.when in ("setup", "call"):
            self._screenshots.failed(item)

    def _skeleton(self, item: pytest.Item, setup: pytest.TestReport) -> dict[str, Any]:
        """Build an item's result as far as it is known at setup: UNKNOWN until it ends."""
        mapping = item.stash.get(MAPPING_KEY, _NOT_MAPPED)
        if mapping is _NOT_MAPPED:  # an item added after collection finished
            mapping = item.stash[MAPPING_KEY] = map_item(
                item, self._settings.unmapped, self._settings.embedded
            )
        return {
            "nodeid": item.nodeid,
            "index": self._indexes.get(item, len(self._indexes)),
            "param": param_id(item),
            "code": mapping.code if mapping else None,
            "group_size": self._group_sizes.get(mapping.code, 1) if mapping else 1,
            "create_title": mapping.create_title if mapping else None,
            "status": UNKNOWN,
            "executed_at": utc_iso(setup.start),
            "duration_ms": 0,
            "framework": self._settings.framework,
            "bug_ticket_key": mapping.bug_ticket_key if mapping else None,
            "bug_ticket_url": mapping.bug_ticket_url if mapping else None,
            "comment": mapping.comment if mapping else None,
            "error_message": None,
            "error_stack": None,
        }

    def _result(self, item: pytest.Item, state: ItemState) -> dict[str, Any]:
        """The item's full result at its teardown (the keys and their order of the skeleton)."""
        combined = combine_phases(state.phases)
        result = state.skeleton.copy()
        result["status"] = combined.status
        result["duration_ms"] = state.duration_ms
        result["error_message"] = clip(combined.message, MESSAGE_LIMIT)
        result["error_stack"] = clip(combined.stack, STACK_LIMIT)
        attempt, attempts = _attempts(item)
        if attempt > 1:
            note = f"{combined.status.lower()} on attempt {attempt}"
            note += f" of {attempts}" if attempts else ""
            result["comment"] = "\n".join(filter(None, [result["comment"], note]))
        hook = self._config.hook.pytest_qahub_result
        if hook.get_hookimpls():  # calling a hook nobody implements still costs microseconds
            hook(item=item, result=result)
        return result
