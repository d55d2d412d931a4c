"""Capture each item's result where it runs (the only process, or an xdist worker).

The result travels on the reports as plain, serialisable attributes, so an xdist
controller receives exactly what a serial run computes:

- ``report.qahub_item`` on every setup report: the item's case and start, enough to
  record an UNKNOWN result if its worker crashes before the item finishes;
- ``report.qahub_result`` on every teardown report: the item's full result.
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
from .settings import Settings
from .status import MESSAGE_LIMIT, STACK_LIMIT, UNKNOWN, PhaseOutcome, clip, combine_phases, phase_outcome

ITEM_ATTR = "qahub_item"
RESULT_ATTR = "qahub_result"


@dataclass
class ItemState:
    """What is known about an item between its phases."""

    skeleton: dict[str, Any]
    phases: list[PhaseOutcome] = field(default_factory=list)
    duration_ms: int = 0


MAPPING_KEY = pytest.StashKey[CaseMapping | None]()
STATE_KEY = pytest.StashKey[ItemState]()


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
    """Plugin object computing per-item results; registered whenever a run is set."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self._config = config
        self._settings = settings
        self._group_sizes: Counter[str] = Counter()
        self._indexes: dict[str, int] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Map every item and count how many items share each code."""
        self._group_sizes.clear()
        for index, item in enumerate(session.items):
            mapping = map_item(item, self._settings.unmapped, self._settings.embedded)
            item.stash[MAPPING_KEY] = mapping
            self._indexes[item.nodeid] = index
            if mapping is not None:
                self._group_sizes[mapping.code] += 1

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Record each phase and attach the item's data to the setup and teardown reports."""
        report = yield
        if report.when == "setup":
            state = ItemState(skeleton=self._skeleton(item, report))
            item.stash[STATE_KEY] = state
            setattr(report, ITEM_ATTR, dict(state.skeleton))
        state = item.stash.get(STATE_KEY, None)
        if state is None:
            return report
        outcome = phase_outcome(report, call.excinfo)
        if outcome is not None:
            state.phases.append(outcome)
        if report.when == "call":
            state.duration_ms = round(report.duration * 1000)
        elif report.when == "teardown":
            setattr(report, RESULT_ATTR, self._result(item, state))
        return report

    def _skeleton(self, item: pytest.Item, setup: pytest.TestReport) -> dict[str, Any]:
        """Build an item's result as far as it is known at setup: UNKNOWN until it ends."""
        if MAPPING_KEY in item.stash:
            mapping = item.stash[MAPPING_KEY]
        else:  # an item added after collection finished
            mapping = item.stash[MAPPING_KEY] = map_item(
                item, self._settings.unmapped, self._settings.embedded
            )
        return {
            "nodeid": item.nodeid,
            "index": self._indexes.get(item.nodeid, len(self._indexes)),
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
        combined = combine_phases(state.phases)
        result = dict(state.skeleton)
        result.update(
            status=combined.status,
            duration_ms=state.duration_ms,
            error_message=clip(combined.message, MESSAGE_LIMIT),
            error_stack=clip(combined.stack, STACK_LIMIT),
        )
        attempt, attempts = _attempts(item)
        if attempt > 1:
            note = f"{combined.status.lower()} on attempt {attempt}"
            note += f" of {attempts}" if attempts else ""
            result["comment"] = "\n".join(filter(None, [result["comment"], note]))
        hook = self._config.hook.pytest_qahub_result
        if hook.get_hookimpls():  # calling a hook nobody implements still costs microseconds
            hook(item=item, result=result)
        return result
