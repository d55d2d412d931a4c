"""The interface the delivery side talks to a collector through, and what it carries.

`HttpTransport` (http.py) implements it over HTTP, `EmbeddedTransport` (embedded.py) with the
collector's own code on a local database; `connect.py` chooses. Only the delivery process and
the ``qahub`` data commands open one: the test process never does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class PostOutcome:
    """The answer to a bulk upsert: 201 (all accepted) or 207 (some rejected)."""

    status: int
    accepted: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Attachment:
    """A file to upload: the name it gets, where it is, its MIME type (read when sent, never whole
    in embedded mode)."""

    name: str
    path: Path
    mime_type: str = "application/octet-stream"


class Transport(Protocol):
    """What the plugin needs from a collector. Methods raise `QAHubError` subclasses."""

    #: Where results can be seen, for messages and the journal header.
    url: str

    def get_run(self, run_id: str) -> dict[str, Any]:
        """Return the run, or raise NotFound."""
        ...

    def ensure_run(self, run_id: str) -> dict[str, Any]:
        """Return the run results are sent to: a server's must exist (NotFound), the embedded
        collector creates it on first use."""
        ...

    def create_run(self, name: str, tags: dict[str, str | None]) -> dict[str, Any]:
        """Create a run with a new id, tagged with any of environment, branch, commit, build_url."""
        ...

    def list_runs(self, limit: int) -> list[dict[str, Any]]:
        """Return the newest runs, newest first."""
        ...

    def update_run(
        self, run_id: str, status: str | None = None, tags: dict[str, str | None] | None = None
    ) -> dict[str, Any]:
        """Change a run's status (COMPLETED: it takes no more results) and/or its tags."""
        ...

    def list_results(self, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """Return every result of a run (only those of one status, if given)."""
        ...

    def compare(self, run_id: str, base_id: str | None = None) -> dict[str, Any]:
        """Compare a run with ``base_id``, or the previous run of its branch (``GET /runs/{id}/compare``)."""
        ...

    def case_codes(self) -> set[str]:
        """Return the code of every test case of the project (all pages)."""
        ...

    def create_case(self, code: str, title: str) -> dict[str, Any]:
        """Create a test case; raise Conflict if the code exists."""
        ...

    def import_cases(self, rows: list[tuple[str, str]]) -> int:
        """Create the ``(code, title)`` cases whose codes are new; return how many were new."""
        ...

    def post_results(self, run_id: str, results: list[dict[str, Any]]) -> PostOutcome:
        """Bulk-upsert results into a run."""
        ...

    def upload_attachment(self, result_id: str, files: list[Attachment]) -> list[dict[str, Any]]:
        """Attach files to a result."""
        ...

    def activity(self) -> str | None:
        """What it is waiting for right now (a slow answer, a retry), for a progress line."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
