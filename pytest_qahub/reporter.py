"""The controller-side reporter: checks the run, aggregates, journals, sends, summarises.

Registered only in the process that owns the session (never on an xdist worker).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .attach import ATTACHMENTS_ATTR, ERRORS_ATTR, SESSION_INPUT
from .capture import ITEM_ATTR, MAPPING_KEY, RESULT_ATTR
from .delivery import Delivery
from .errors import TRANSIENT_ERRORS, AuthError, NotFound, QAHubError, QAHubWarning, ResponseError
from .journal import Journal, default_directory
from .sender import Sender
from .settings import Settings
from .status import aggregate
from .summary import Summary, write_summary
from .transport import Transport


class Reporter:
    """Plugin object fed by ``pytest_runtest_logreport``; finished in ``pytest_sessionfinish``."""

    def __init__(
        self, config: pytest.Config, settings: Settings, transport: Transport, pending: Path | None = None
    ) -> None:
        self.config = config
        #: This session's folder of attachment files not uploaded yet (shared with its workers).
        self.pending = pending
        self.settings = settings
        self.transport = transport
        self.journal: Journal | None = None
        self.sender: Sender | None = None
        self.known_codes: set[str] | None = None
        self.summary = Summary(run_id=settings.run, url=transport.url)
        self._groups: dict[str, list[dict[str, Any]]] = {}
        self._files: dict[str, list[dict[str, str]]] = {}  # code -> attachment records
        self._journaled_files: set[str] = set()
        self._started: dict[str, dict[str, Any]] = {}
        self._reruns: set[tuple[str, int]] = set()
        self._unknown: Counter[str] = Counter()
        self._warned_unknown: set[str] = set()
        self._journaled = 0

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """Say where results go."""
        return [f"qahub: run {self.settings.run} at {self.transport.url}"]

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Check the run and load the project's codes, then open the journal and sender."""
        self._preflight()
        directory = default_directory(self.config.rootpath)
        try:
            self.journal = Journal.create(directory, url=self.transport.url, run_id=self.settings.run)
        except OSError as ex:
            raise pytest.UsageError(f"Cannot write the QAHub journal in {directory}: {ex}") from ex
        self.summary.journal = self.journal.path
        if self.summary.offline_reason is None:
            delivery = Delivery(self.transport, self.journal, self.settings.run, self.known_codes)
            self.sender = Sender(delivery, batch_size=self.settings.batch_size)
            self.sender.start()

    def _preflight(self) -> None:
        url, run = self.transport.url, self.settings.run
        try:
            self.transport.get_run(run)
        except NotFound as ex:
            raise pytest.UsageError(f"QAHub run {run!r} does not exist at {url}") from ex
        except AuthError as ex:
            given = "the token was rejected" if self.settings.token else "no token was given"
            raise pytest.UsageError(
                f"QAHub at {url}: {given} ({ex}); pass a token with read,write scopes "
                "in QAHUB_TOKEN or --qahub-token"
            ) from ex
        except TRANSIENT_ERRORS as ex:
            self.summary.offline_reason = f"{url} cannot be reached: {ex}"
            self._warn(
                f"QAHub collector {self.summary.offline_reason}. The tests run; their results "
                "wait in the journal (.qahub/journal/) for `qahub replay`."
            )
            return
        except ResponseError as ex:
            raise pytest.UsageError(f"QAHub at {url} refused run {run!r}: {ex}") from ex
        try:
            self.known_codes = {case["code"] for case in self.transport.list_cases()}
        except (QAHubError, KeyError, TypeError) as ex:
            self._warn(f"QAHub: could not list the project's test cases ({ex}); codes not checked")

    def _warn(self, message: str) -> None:
        try:
            self.config.issue_config_time_warning(QAHubWarning(message), stacklevel=2)
        except QAHubWarning:
            # Warnings are errors here (-W error): say it in the summary instead.
            self.summary.notes.append(message)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Name the unknown codes before the tests run (serial runs; xdist reports at the end)."""
        codes = {
            mapping.code
            for item in session.items
            if (mapping := item.stash.get(MAPPING_KEY, None)) and not mapping.create_title
        }
        self._warn_unknown(codes)

    def _warn_unknown(self, codes: set[str]) -> None:
        if self.known_codes is None:
            return
        new = sorted(codes - self.known_codes - self._warned_unknown)
        if new:
            self._warned_unknown.update(new)
            self._warn(
                f"QAHub: {len(new)} test case code(s) do not exist in the project; their "
                f"results will not be sent: {', '.join(new)}"
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Track started items; take each item's result from its final teardown report."""
        attempt = int(getattr(report, "rerun", 0) or 0)
        if report.outcome == "rerun":
            self._reruns.add((report.nodeid, attempt))
            return
        skeleton = getattr(report, ITEM_ATTR, None)
        if isinstance(skeleton, dict):
            self._started[report.nodeid] = skeleton
        errors = getattr(report, ERRORS_ATTR, None)
        if errors:  # rare: skip building anything for the three reports of every test
            self.summary.capture_errors.extend(str(error) for error in errors)
        attached = getattr(report, ATTACHMENTS_ATTR, None)
        files = [f for f in attached if isinstance(f, dict)] if attached else []
        result = getattr(report, RESULT_ATTR, None)
        if not isinstance(result, dict) or (report.nodeid, attempt) in self._reruns:
            _discard(files)  # not a teardown, or the teardown of an attempt that is rerun
            return
        self._started.pop(report.nodeid, None)
        self._add(result, files)

    def mark_crashed(self, nodeid: str, message: str) -> None:
        """Record an item whose xdist worker died while running it as UNKNOWN."""
        skeleton = self._started.pop(nodeid, None)
        if skeleton is not None:
            self._add(dict(skeleton, error_message=message, error_stack=message))

    def _add(self, result: dict[str, Any], files: list[dict[str, str]] | None = None) -> None:
        code = result.get("code")
        if code is None:
            self.summary.unmapped += 1
            _discard(files or [])
            return
        group = self._groups.setdefault(code, [])
        group.append(result)
        self._files.setdefault(code, []).extend(files or [])
        if len(group) >= int(result.get("group_size") or 1):
            self._finish(code)

    def _finish(self, code: str) -> None:
        results = self._groups.pop(code)
        files = self._files.pop(code, [])
        create_title = results[0].get("create_title")
        if self.known_codes is not None and code not in self.known_codes and not create_title:
            self._unknown[code] += 1
            _discard(files)
            return
        payload = aggregate(results)
        if self.journal is None:
            _discard(files)
            return  # the session never started (usage error)
        try:
            entry = self.journal.append_result(payload, create_title)
        except OSError as ex:
            self.summary.notes.append(f"could not write the journal: {ex}")
            _discard(files)
            return
        self._journaled += 1
        if self.sender is not None:
            self.sender.submit(entry)
        self._journal_files(code, files)

    def _journal_files(self, code: str, files: list[dict[str, str]]) -> None:
        """Journal each attachment of code's result and hand it to the sender."""
        assert self.journal is not None
        for record in files:
            try:
                entry = self.journal.append_attachment(
                    code, str(record["path"]), str(record["name"]), str(record["mime"])
                )
            except (OSError, KeyError) as ex:
                self.summary.notes.append(f"could not journal attachment {record.get('name')}: {ex}")
                _discard([record])
                continue
            self._journaled_files.add(entry.path)
            self.summary.attachments_waiting += 1
            if self.sender is not None:
                self.sender.submit_attachment(entry)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Finish open results, flush within the time limit, apply strict mode."""
        for skeleton in list(self._started.values()):
            self._add(dict(skeleton, error_message="the test did not finish"))
        self._started.clear()
        for code in list(self._groups):
            self._finish(code)
        self._warn_unknown(set(self._unknown))
        self.summary.unknown_codes = sorted(self._unknown)
        self._settle()
        if self.settings.strict and self.summary.has_problems and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _settle(self) -> None:
        if self.sender is not None:
            self.sender.flush(self.settings.flush_timeout)
            stats = self.sender.stats
            self.summary.sent = stats.sent
            self.summary.rejected = list(stats.rejected)
            self.summary.created_cases = stats.created_cases
            self.summary.last_error = stats.last_error
            self.summary.waiting = self.sender.undelivered
            self.summary.attachments_sent = stats.attachments_sent
            self.summary.attachments_refused = list(stats.attachments_refused)
            self.summary.attachments_waiting = self.sender.attachments_waiting
        else:
            self.summary.waiting = self._journaled
        if self.journal is not None:
            try:
                self.journal.sync()
            except OSError as ex:
                self.summary.notes.append(f"could not sync the journal: {ex}")

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Write the QAHub block."""
        if self.journal is not None:
            write_summary(terminalreporter, self.summary)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Close the journal and the connections."""
        if self.journal is not None:
            try:
                self.journal.close()
                if self._journaled == 0:
                    self.journal.path.unlink()  # nothing to replay: leave no clutter
            except OSError as ex:
                self.summary.notes.append(f"could not close the journal: {ex}")
        self._clean_pending()
        self.transport.close()

    def _clean_pending(self) -> None:
        """Remove this session's pending files no journal record names (crashed or rerun items)."""
        if self.pending is None or not self.pending.is_dir():
            return
        _discard(
            [{"path": str(path)} for path in self.pending.iterdir() if str(path) not in self._journaled_files]
        )
        with contextlib.suppress(OSError):  # files wait in it for `qahub replay`
            self.pending.rmdir()


def _discard(files: list[dict[str, str]]) -> None:
    """Remove pending attachment files that will not be uploaded."""
    for record in files:
        with contextlib.suppress(OSError, KeyError):  # already gone: nothing to clean
            Path(record["path"]).unlink(missing_ok=True)


class XdistHooks:
    """pytest-xdist hooks, registered only when xdist is active."""

    def __init__(self, reporter: Reporter) -> None:
        self._reporter = reporter

    def pytest_configure_node(self, node: Any) -> None:
        """Give each worker this session's pending-attachments folder."""
        if self._reporter.pending is not None:
            node.workerinput[SESSION_INPUT] = self._reporter.pending.name

    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """A worker died running crashitem: its result is UNKNOWN."""
        self._reporter.mark_crashed(crashitem, str(report.longrepr))
