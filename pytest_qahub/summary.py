"""The QAHub block of the terminal summary."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .journal import is_database_url
from .warning import name_codes

SHOWN_REJECTIONS = 5


@dataclass
class Summary:
    """What the session delivered, for the terminal and for strict mode."""

    run_id: str | None  # None: the run was to be created, and the collector could not be reached
    url: str
    journal: Path | None = None
    sent: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    waiting: int = 0
    unmapped: int = 0
    unknown_codes: list[str] = field(default_factory=list)
    created_cases: int = 0
    offline_reason: str | None = None
    last_error: str | None = None
    notes: list[str] = field(default_factory=list)
    attachments_sent: int = 0
    #: (test case code, file name, reason) for attachments that will never be uploaded.
    attachments_refused: list[tuple[str, str, str]] = field(default_factory=list)
    attachments_waiting: int = 0
    #: Screenshots that could not be taken and files that could not be kept, one line each.
    capture_errors: list[str] = field(default_factory=list)
    run_name: str | None = None
    #: The session created the run (``--qahub-run-name``).
    run_created: bool = False
    run_id_file: Path | None = None
    #: Marking the run COMPLETED: True done, False not done (`not_completed` says why), None not asked.
    completed: bool | None = None
    not_completed: str | None = None
    #: What changed since the base run (new failures, fixed, flaky), when the collector says.
    changes: dict[str, Any] | None = None
    #: ``--qahub-strict`` turned a passing session into a failed one.
    strict_failed: bool = False

    @property
    def has_problems(self) -> bool:
        """True when results were rejected or results or attachments wait in the journal."""
        return bool(self.rejected or self.waiting or self.attachments_waiting)

    def replay_command(self) -> str:
        """The command that sends what this session's journal still holds."""
        if self.journal is None:
            return "qahub replay"
        return f"qahub replay {_relative(self.journal)}"

    def where(self) -> list[str]:
        """Say which run the results went to, and where it can be seen."""
        if not self.run_id:
            return [f"run {self.run_name!r} not created: the collector was not reached"]
        run = f"new run {self.run_id} {self.run_name!r}" if self.run_created else f"run {self.run_id}"
        lines = []
        if not self.url:  # embedded, and the delivery process never said where its database is
            lines.append(f"{run} (embedded collector)")
        elif not is_database_url(self.url):
            lines.append(f"{run} at {self.url}/runs/{self.run_id}")
        else:
            database = self.url.split("://", 1)[1].removeprefix("/")
            if self.url.startswith("sqlite"):
                database = _relative(Path(database))
            lines.append(f"{run} in {database} (embedded collector)")
            lines.append(
                f"  see it: qahub results {self.run_id}   or: qahub serve, then open http://127.0.0.1:8080/"
            )
        if self.run_id_file is not None:
            lines.append(f"  its id is in {_relative(self.run_id_file)}")
        return lines

    def lines(self) -> list[str]:
        """Render the block's lines."""
        lines = self.where()
        counts = f"sent {self.sent}, rejected {len(self.rejected)}, waiting in journal {self.waiting}"
        if self.unmapped:
            counts += f", unmapped tests {self.unmapped} (not reported)"
        if self.created_cases:
            counts += f", test cases created {self.created_cases}"
        lines.append(counts)
        lines.extend(f"  {note}" for note in self.notes)
        for code, message in self.rejected[:SHOWN_REJECTIONS]:
            lines.append(f"  rejected {code}: {message}")
        if len(self.rejected) > SHOWN_REJECTIONS:
            lines.append(f"  ... and {len(self.rejected) - SHOWN_REJECTIONS} more rejections")
        if self.unknown_codes:
            lines.append(f"  unknown test case codes (not sent): {name_codes(self.unknown_codes)}")
        lines.extend(self._attachment_lines())
        if self.waiting or self.attachments_waiting:
            why = self.offline_reason or self.last_error
            if why:
                lines.append(f"  not delivered: {why}")
            waiting = f"{self.waiting} results" if self.waiting else ""
            if self.attachments_waiting:
                waiting += " and " if waiting else ""
                waiting += f"{self.attachments_waiting} attachments"
            lines.append(f"  {waiting} wait in {self.journal}")
            creates = "" if self.run_id else " (it creates the run)"
            lines.append(f"  send them later with: {self.replay_command()}{creates}")
        lines.extend(self._change_lines())
        if self.completed:
            lines.append(f"run {self.run_id} marked COMPLETED")
        elif self.completed is False:
            run = self.run_id or repr(self.run_name)
            lines.append(f"run {run} not marked COMPLETED: {self.not_completed}")
        if self.strict_failed:
            lines.append("--qahub-strict: results were rejected or not delivered, so the session fails")
        return lines

    def _change_lines(self) -> list[str]:
        """``3 new failures since <base>, 2 fixed``, with the codes (flaky ones marked)."""
        changes = self.changes
        if not changes:
            return []
        new, fixed, flaky = changes["new_failures"], changes["fixed"], set(changes["flaky"])
        base = changes["base"] + (f" ({changes['base_name']})" if changes["base_name"] else "")
        lines = [f"{len(new)} new failures since {base}, {len(fixed)} fixed"]
        if new:
            lines.append("  new: " + name_codes([f"{c} (flaky)" if c in flaky else c for c in new]))
        if fixed:
            lines.append("  fixed: " + name_codes(fixed))
        return lines

    def _attachment_lines(self) -> list[str]:
        lines: list[str] = []
        refused = self.attachments_refused
        if self.attachments_sent or refused or self.attachments_waiting:
            lines.append(
                f"attachments uploaded {self.attachments_sent}, refused {len(refused)}, "
                f"waiting in journal {self.attachments_waiting}"
            )
        for code, name, reason in refused[:SHOWN_REJECTIONS]:
            lines.append(f"  attachment {name} of {code} refused: {reason}")
        if len(refused) > SHOWN_REJECTIONS:
            lines.append(f"  ... and {len(refused) - SHOWN_REJECTIONS} more refused attachments")
        for error in self.capture_errors[:SHOWN_REJECTIONS]:
            lines.append(f"  {error}")
        if len(self.capture_errors) > SHOWN_REJECTIONS:
            lines.append(f"  ... and {len(self.capture_errors) - SHOWN_REJECTIONS} more capture problems")
        return lines


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def write_summary(terminalreporter: pytest.TerminalReporter, summary: Summary) -> None:
    """Write the QAHub block."""
    terminalreporter.write_sep("-", "QAHub")
    for line in summary.lines():
        terminalreporter.write_line(line, red=summary.has_problems)
