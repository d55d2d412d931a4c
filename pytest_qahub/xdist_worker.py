"""What an xdist worker does besides capturing: name the codes the project lacks, drop sent payloads.

The controller collects nothing, so it cannot name them itself until results arrive. It
hands the project's codes to the first worker (``workerinput``), which collects what every
worker collects and gives the warning. xdist forwards it to the controller, which
then knows not to give it again. The worker also leaves the codes in its ``workeroutput``,
for the controller to name at the end where the warning could not be given (warnings are
errors) — even the codes of tests that never report — and the other notices it could not
give as warnings (``warning.Notices``).

Once xdist has sent a report, its payload is taken off it: the worker's own terminal reporter
keeps every report until the session ends.
"""

from __future__ import annotations

import pytest

from .capture import Capture, take_payload
from .warning import issue_warning, unknown_codes_message
from .xdist import KNOWN_CODES_INPUT, NOTICES_OUTPUT, UNKNOWN_OUTPUT


class WorkerWarnings:
    """Registered on xdist workers: warn about the codes the project lacks after collection;
    hand the notices that could not be warnings to the controller at the end."""

    def __init__(self, config: pytest.Config, capture: Capture) -> None:
        self._config = config
        self._capture = capture

    def pytest_sessionfinish(self) -> None:
        """Hand the notices that could not be warnings to the controller, for its summary."""
        if self._capture.notices.unsaid:
            self._config.workeroutput[NOTICES_OUTPUT] = list(self._capture.notices.unsaid)  # type: ignore[attr-defined]

    @pytest.hookimpl(tryfirst=True)  # after the capture (registered later), before xdist
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Warn once, from the first worker, before xdist tells the controller its collection is
        done: the controller starts tests only then, so the warning precedes every result."""
        workerinput = self._config.workerinput  # type: ignore[attr-defined]
        known = workerinput.get(KNOWN_CODES_INPUT)  # given to the first worker only
        if known is None:
            return
        unknown = sorted(self._capture.codes_to_check - set(known))
        if unknown:
            self._config.workeroutput[UNKNOWN_OUTPUT] = unknown  # type: ignore[attr-defined]
            issue_warning(self._config, unknown_codes_message(unknown), unknown)


class SentReports:
    """Registered on xdist workers: a report's payload leaves it once xdist has sent the report."""

    @pytest.hookimpl(trylast=True)  # after xdist's own hook has serialised and sent it
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Drop the payload: the worker's terminal reporter keeps every report until the end."""
        take_payload(report)
