"""The controller-side reporter: checks the run, aggregates, journals, sends, summarises.

Registered only in the process that owns the session (never on an xdist worker).
``capture.Capture`` hands it each item's result as the item ends; on an xdist controller its
``ReportFeed`` takes the results off the reports the workers send (``pytest_runtest_logreport``).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from . import xdist
from .attach import ATTACHMENTS_ATTR, ERRORS_ATTR
from .capture import ITEM_ATTR, PASSED_ATTR, RESULT_ATTR, Capture, take_payload
from .delivery.handle import READY_TIMEOUT_S, DeliveryProcess
from .journal import REPLAY_COMPLETES, Journal, default_directory, load
from .settings import Settings
from .status import aggregate, passed_payload
from .summary import Summary, write_summary
from .warning import QAHubWarning, issue_warning, unknown_codes_message

FEED_NAME = "qahub-report-feed"


class Reporter:
    """Plugin object fed with each item's result; finished in ``pytest_sessionfinish``.

    It journals each result; the delivery process it starts at session start
    checks the run, then follows the journal and sends what it holds.
    """

    def __init__(
        self, config: pytest.Config, settings: Settings, capture: Capture, pending: Path | None = None
    ) -> None:
        self.config = config
        self.capture = capture
        #: This session's folder of attachment files not uploaded yet (shared with its workers).
        self.pending = pending
        self.settings = settings
        self.delivery: DeliveryProcess | None = None
        self.journal: Journal | None = None
        self.known_codes: set[str] | None = None
        #: The run's id: given, or created by the delivery process (None until it is).
        self.run_id = settings.run
        self.summary = Summary(
            run_id=settings.run,
            url=settings.url or "",
            run_name=settings.run_name,
            run_id_file=settings.run_id_file,
        )
        if settings.token_on_command_line:
            self.summary.notes.append(
                "the token was given with --qahub-token, which every user of this machine can read "
                "(in the process list); put it in QAHUB_TOKEN instead"
            )
        self._ready = False
        self._groups: dict[str, list[dict[str, Any]]] = {}
        self._files: dict[str, list[dict[str, str]]] = {}  # code -> attachment records
        self._journaled_files: set[str] = set()
        self._started: dict[str, dict[str, Any]] = {}
        self._unknown: Counter[str] = Counter()
        self._warned_unknown: set[str] = set()
        self._found_unknown: set[str] = set()  # by xdist workers
        self._unsaid_unknown: set[str] = set()  # no warning could name them: the summary does
        self._journaled = 0
        self._journal_closed = False

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """Say where results go."""
        where = f"at {self.settings.url}" if self.settings.url else "in the embedded collector"
        run = f"run {self.run_id}" if self.run_id else f"a new run {self.settings.run_name!r}"
        pid = self.delivery.resident_pid if self.delivery else None
        warm = f" (delivery: the warm process {pid}, see --qahub-keep-warm)" if pid else ""
        return [f"qahub: {run} {where}{warm}"]

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Start the delivery process; it checks the run while pytest collects.

        Under xdist the controller collects nothing: wait for the check here, before the
        workers start.
        """
        job = {
            "run": self.settings.run,
            "url": self.settings.url,
            "token": self.settings.token,
            "root": str(self.config.rootpath),
            "batch_size": self.settings.batch_size,
            "flush_timeout": self.settings.flush_timeout,
            "run_name": self.settings.run_name,
            "tags": self.settings.run_tags,
            "complete": self.settings.completes,
            "keep_warm": self.settings.keep_warm,
        }
        try:
            self.delivery = DeliveryProcess(job)
        except OSError as ex:
            self.summary.offline_reason = f"the delivery process could not start: {ex}"
        if xdist.is_controller(self.config):
            # It runs no test: its capture's per-test hooks would only look at the workers' reports.
            self.config.pluginmanager.unregister(self.capture)
            self.config.pluginmanager.register(ReportFeed(self), FEED_NAME)
            self.config.pluginmanager.register(XdistHooks(self), "qahub-xdist")
            self._await_ready()
        else:
            self.capture.deliver_to(self)

    def _await_ready(self) -> None:
        """Take the delivery process's answer to the run check, then open the journal.

        Raises:
            pytest.UsageError: The run does not exist, the token was refused, the embedded
                database cannot be opened, or the journal cannot be written.
        """
        if self._ready:
            return
        self._ready = True
        answer = (self.delivery.answer(READY_TIMEOUT_S) if self.delivery else None) or {}
        event = answer.get("event")
        if event == "usage_error":
            self._stop_delivery()
            raise pytest.UsageError(str(answer.get("message")))
        tags = self.settings.run_tags
        if event == "ready":
            self.summary.url = str(answer.get("url") or self.summary.url)
            self._take_run(answer)
            codes = answer.get("codes")
            self.known_codes = set(codes) if isinstance(codes, list) else None
            if answer.get("warning"):
                self._warn(str(answer["warning"]))
        else:
            self._go_offline(answer)
            tags = answer.get("tags") if isinstance(answer.get("tags"), dict) else tags
        self._write_run_id()
        directory = default_directory(self.config.rootpath)
        try:
            self.journal = Journal.create(
                directory,
                url=self.summary.url or None,
                run_id=self.run_id,
                run_name=self.settings.run_name,
                tags=tags,
                complete=self.settings.completes,
            )
        except OSError as ex:
            self._stop_delivery()
            raise pytest.UsageError(f"Cannot write the QAHub journal in {directory}: {ex}") from ex
        self.summary.journal = self.journal.path
        if self.delivery is not None:
            self.delivery.follow(self.journal.path)

    def _take_run(self, answer: dict[str, Any]) -> None:
        """The delivery process checked the run, or created it: take its id and name."""
        if isinstance(answer.get("run"), str):
            self.run_id = self.summary.run_id = answer["run"]
        self.summary.run_created = bool(answer.get("created"))
        if answer.get("run_name"):
            self.summary.run_name = str(answer["run_name"])

    def _write_run_id(self) -> None:
        """Write the run's id where ``--qahub-run-id-file`` says (no run: remove a stale id).

        Raises:
            pytest.UsageError: The file cannot be written.
        """
        path = self.settings.run_id_file
        if path is None:
            return
        try:
            if self.run_id:
                path.write_text(f"{self.run_id}\n", encoding="utf-8")
            else:
                path.unlink(missing_ok=True)
        except OSError as ex:
            self._stop_delivery()
            raise pytest.UsageError(
                f"Cannot write the QAHub run id to {path} (--qahub-run-id-file): {ex}"
            ) from ex

    def _go_offline(self, answer: dict[str, Any]) -> None:
        """No delivery this session: the collector cannot be reached, or the process failed."""
        if answer.get("event") == "offline":
            self.summary.url = str(answer.get("url") or self.summary.url)
            self.summary.offline_reason = str(answer.get("message"))
            what = f"QAHub collector {self.summary.offline_reason}"
        else:
            if self.delivery is not None:
                why = "it did not answer in time" if self.delivery.running else self.delivery.why()
                self.summary.offline_reason = f"the delivery process failed: {why}"
            what = f"QAHub: {self.summary.offline_reason}"
        self._stop_delivery()
        # A line, not a warning: pytest's warnings summary must read as it does without us.
        self._say_now(
            f"{what}. The tests run; their results wait in the journal (.qahub/journal/) for `qahub replay`."
        )

    def _say_now(self, message: str) -> None:
        """Write a line on the terminal at once (the summary says it again at the end)."""
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.write_line(message, yellow=True)

    def _stop_delivery(self) -> None:
        if self.delivery is not None:
            self.delivery.stop()
            self.delivery = None

    def _warn(self, message: str) -> None:
        if not issue_warning(self.config, message):
            # Warnings are errors here (-W error): say it in the summary instead.
            self.summary.notes.append(message)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Name the unknown codes before the tests run (xdist: a worker does)."""
        self._await_ready()
        self._warn_unknown(self.capture.codes_to_check)

    def noted(self, notices: list[str]) -> None:
        """Notices that could not be warnings (warnings are errors): the summary gives them, once."""
        self.summary.notes.extend(notice for notice in notices if notice not in self.summary.notes)

    def warned_about(self, codes: list[str]) -> None:
        """An xdist worker named these unknown codes in its warning before the tests ran."""
        self._warned_unknown.update(codes)

    def found_unknown(self, codes: list[str]) -> None:
        """An xdist worker found these codes unknown: name them at the end if nobody has."""
        self._found_unknown.update(codes)

    def _warn_unknown(self, codes: set[str]) -> None:
        if self.known_codes is None:
            return
        new = sorted(codes - self.known_codes - self._warned_unknown)
        if new:
            self._warned_unknown.update(new)
            if not issue_warning(self.config, unknown_codes_message(new)):
                self._unsaid_unknown.update(new)  # warnings are errors: the summary's list names them

    def started(self, nodeid: str, skeleton: dict[str, Any]) -> None:
        """An item began (its reports travel): kept until it ends, in case it never does."""
        self._started[nodeid] = skeleton

    def take(
        self,
        nodeid: str,
        result: dict[str, Any] | None,
        files: Sequence[dict[str, str]] = (),
        errors: Sequence[str] = (),
    ) -> None:
        """An item ended: journal its result and attachments; count its capture errors."""
        records = self._evidence(files, errors)
        if not isinstance(result, dict):
            _discard(records)
            return
        self._started.pop(nodeid, None)
        self._add(result, records)

    def take_passed_alone(self, code: str, nodeid: str, executed_at: str, duration_ms: int) -> None:
        """An item that passed ended, the only one reporting to its case: journal it as it is."""
        if self._started:
            self._started.pop(nodeid, None)
        payload = passed_payload(code, executed_at, duration_ms, self.settings.framework)
        known = self.known_codes
        # Most codes exist: a case title is worked out only for one that may be created.
        title = None if known is not None and code in known else self.capture.create_title(nodeid)
        self._journal_payload(code, payload, title, [])

    def _evidence(self, files: Sequence[dict[str, str]], errors: Sequence[str]) -> list[dict[str, str]]:
        """Count an item's capture errors; return its attachment records."""
        if errors:
            self.summary.capture_errors.extend(str(error) for error in errors)
        return [f for f in files if isinstance(f, dict)] if files else []

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
        if result.get("group_size", 1) == 1 and code not in self._groups:
            self._journal_result(code, [result], files or [])  # most tests: a code of their own
            return
        group = self._groups.setdefault(code, [])
        group.append(result)
        self._files.setdefault(code, []).extend(files or [])
        if len(group) >= int(result.get("group_size") or 1):
            self._finish(code)

    def _finish(self, code: str) -> None:
        self._journal_result(code, self._groups.pop(code), self._files.pop(code, []))

    def _journal_result(self, code: str, results: list[dict[str, Any]], files: list[dict[str, str]]) -> None:
        """Aggregate a code's results into one and journal it, with its files."""
        self._journal_payload(code, aggregate(results), results[0].get("create_title"), files)

    def _journal_payload(
        self, code: str, payload: dict[str, Any], create_title: str | None, files: list[dict[str, str]]
    ) -> None:
        """Journal a code's API result, with its files; a code the project lacks is counted instead."""
        if self.known_codes is not None and code not in self.known_codes and not create_title:
            self._unknown[code] += 1
            _discard(files)
            return
        if self.journal is None:
            _discard(files)
            return  # the session never started (usage error)
        try:
            self.journal.append_payload(payload, create_title)
        except (OSError, TypeError) as ex:  # TypeError: a value that is not JSON
            self.summary.notes.append(f"could not write the journal: {ex}")
            _discard(files)
            return
        self._journaled += 1
        if files:
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

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Finish open results, flush within the time limit, apply strict mode."""
        try:
            self._await_ready()  # not done yet if collection was interrupted
        except pytest.UsageError as ex:
            self.summary.notes.append(str(ex))
        unfinished = self.capture.unfinished()  # a plain run stopped in the middle of a test
        if unfinished is not None:
            self.take(unfinished["nodeid"], unfinished)
        for skeleton in list(self._started.values()):
            self._add(dict(skeleton, error_message="the test did not finish"))
        self._started.clear()
        for code in list(self._groups):
            self._finish(code)
        self._warn_unknown(set(self._unknown) | self._found_unknown)
        self.summary.unknown_codes = sorted(set(self._unknown) | self._unsaid_unknown)
        self.noted(self.capture.notices.unsaid)
        self._settle()
        self._close_journal()  # before the summary, which says if it could not be
        if self.settings.strict and self.summary.has_problems and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            self.summary.strict_failed = True

    def _settle(self) -> None:
        """Let the delivery process send the rest, within the flush time-out; take its totals."""
        if self.delivery is not None:
            stats = self.delivery.finish(self.settings.flush_timeout, self._say)
            if stats is not None:
                self._take_stats(stats)
            else:
                self._count_from_journal(f"the delivery process did not finish: {self.delivery.why()}")
            self.delivery = None
        else:
            self.summary.waiting = self._journaled
        if self.settings.completes and self.summary.completed is None:  # no word from the delivery process
            self.summary.completed = False
            why = "the collector could not be reached" if self.summary.offline_reason else "delivery failed"
            self.summary.not_completed = f"{why}; {REPLAY_COMPLETES}"

    def _say(self, line: str) -> None:
        """Say what the end of the session waits for."""
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.write_line(line)

    def _take_stats(self, stats: dict[str, Any]) -> None:
        summary = self.summary
        summary.sent = int(stats.get("sent", 0))
        summary.rejected = [(str(code), str(message)) for code, message in stats.get("rejected", [])]
        summary.created_cases = int(stats.get("created_cases", 0))
        summary.last_error = stats.get("last_error")
        summary.waiting = int(stats.get("undelivered", self._journaled))
        summary.attachments_sent = int(stats.get("attachments_sent", 0))
        summary.attachments_refused = [
            (str(code), str(name), str(reason)) for code, name, reason in stats.get("attachments_refused", [])
        ]
        summary.attachments_waiting = int(stats.get("attachments_waiting", 0))
        if isinstance(stats.get("changes"), dict):
            summary.changes = stats["changes"]
        if "completed" in stats:
            summary.completed = bool(stats["completed"])
            summary.not_completed = stats.get("not_completed")

    def _count_from_journal(self, why: str) -> None:
        """The delivery process is gone without its totals: the journal says what happened."""
        self.summary.last_error = why
        if self.journal is None:
            return
        try:
            state = load(self.journal.path)
        except (OSError, ValueError) as ex:
            self.summary.notes.append(f"could not read the journal: {ex}")
            self.summary.waiting = self._journaled
            return
        codes = {entry.seq: str(entry.payload.get("test_case_code")) for entry in state.entries}
        self.summary.sent = state.delivered
        self.summary.rejected = [(codes.get(seq, "?"), message) for seq, message in state.rejected.items()]
        self.summary.waiting = len(state.pending)
        self.summary.attachments_sent = state.attachments_done
        self.summary.attachments_waiting = len(state.attachments)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Write the QAHub block."""
        if self.journal is not None:
            write_summary(terminalreporter, self.summary)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Close the journal if the session did not; stop the delivery process if it still runs."""
        self._close_journal()
        self._clean_pending()
        self._stop_delivery()

    def _close_journal(self) -> None:
        """Close (and so fsync) the journal, once; remove it if it holds nothing to replay."""
        if self.journal is None or self._journal_closed:
            return
        self._journal_closed = True
        try:
            self.journal.close()
            if self._journaled == 0:
                self.journal.path.unlink()  # nothing to replay: leave no clutter
        except OSError as ex:
            self.summary.notes.append(f"could not close the journal: {ex}")

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


class ReportFeed:
    """On an xdist controller: takes each item's result off the reports its worker sent.

    Called three times per test: the setup and call reports return at once. (A worker's
    capture leaves no result on the reports of an attempt pytest-rerunfailures runs again.)
    """

    def __init__(self, reporter: Reporter) -> None:
        self._reporter = reporter

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Track started items; take each item's result from its teardown report."""
        attrs = vars(report)
        if report.when != "teardown":  # two of every test's three calls: as little as can be
            skeleton = attrs.pop(ITEM_ATTR, None)  # a worker's setup report
            if isinstance(skeleton, dict):
                self._reporter.started(report.nodeid, skeleton)
            return
        passed = attrs.pop(PASSED_ATTR, None)
        if passed is not None:  # the fast path (capture.PASSED_ATTR)
            self._reporter.take_passed_alone(passed[0], report.nodeid, passed[1], passed[2])
            return
        payload = take_payload(report)
        result = payload.get(RESULT_ATTR)
        self._reporter.take(
            report.nodeid,
            result,
            payload.get(ATTACHMENTS_ATTR) or (),
            payload.get(ERRORS_ATTR) or (),
        )


class XdistHooks:
    """pytest-xdist hooks, registered only when xdist is active."""

    def __init__(self, reporter: Reporter) -> None:
        self._reporter = reporter

    def pytest_configure_node(self, node: Any) -> None:
        """Give each worker this session's pending-attachments folder; the first, the project's codes."""
        if self._reporter.pending is not None:
            node.workerinput[xdist.SESSION_INPUT] = self._reporter.pending.name
        known = self._reporter.known_codes
        if known is not None and node.workerinput.get("workerid") == xdist.WARNING_WORKER:  # it warns
            node.workerinput[xdist.KNOWN_CODES_INPUT] = sorted(known)

    def pytest_warning_recorded(self, warning_message: Any) -> None:
        """A worker's unknown-codes warning arrived: it needs no second one."""
        message = warning_message.message
        if isinstance(message, QAHubWarning) and message.codes:
            self._reporter.warned_about(message.codes)

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A worker ended: the unknown codes it found are named at the end if it could not warn."""
        unknown = getattr(node, "workeroutput", None) or {}
        if isinstance(unknown.get(xdist.UNKNOWN_OUTPUT), list):
            self._reporter.found_unknown(unknown[xdist.UNKNOWN_OUTPUT])
        if isinstance(unknown.get(xdist.NOTICES_OUTPUT), list):
            self._reporter.noted([str(notice) for notice in unknown[xdist.NOTICES_OUTPUT]])

    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """A worker died running crashitem: its result is UNKNOWN."""
        self._reporter.mark_crashed(crashitem, str(report.longrepr))
