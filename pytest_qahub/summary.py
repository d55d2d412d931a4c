"""The QAHub block of the terminal summary."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .journal import is_database_url

SHOWN_REJECTIONS = 5


@dataclass
class Summary:
    """What the session delivered, for the terminal and for strict mode."""

    run_id: str
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
        """Say where the run's results can be seen."""
        if not self.url:  # embedded, and the delivery process never said where its database is
            return [f"run {self.run_id} (embedded collector)"]
        if not is_database_url(self.url):
            return [f"run {self.run_id} at {self.url}/api/v1/runs/{self.run_id}/results"]
        database = self.url.split("://", 1)[1].removeprefix("/")
        if self.url.startswith("sqlite"):
            database = _relative(Path(database))
        return [
            f"run {self.run_id} in {database} (embedded collector)",
            f"  see it: qahub results {self.run_id}   or: qahub serve, then open http://127.0.0.1:8080/",
        ]

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
            lines.append(f"  unknown test case codes (not sent): {', '.join(self.unknown_codes)}")
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
            lines.append(f"  send them later with: {self.replay_command()}")
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
