"""The embedded collector as a `Transport`: results go to a local database, no server.

This is the plugin's only use of the ``collector`` package, through ``collector.embedded``:
its errors carry the HTTP status the API would answer with, mapped as over HTTP.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ..errors import ResponseError, error_for_status
from .transport import Attachment, PostOutcome


def _mapped(ex: Any) -> ResponseError:
    """The plugin's error for a collector error."""
    return error_for_status(ex.status, ex.code, ex.message)


class EmbeddedTransport:
    """Calls the collector's own code in this process, on ``QAHUB_DATABASE_URL``.

    Args:
        root: Where ``.qahub/`` goes when ``QAHUB_DATABASE_URL`` is not set (the rootdir).
        database_url: Use this database instead (``qahub replay`` of an embedded journal).
        project: The key of the project to work in (default: the default project).
    """

    def __init__(self, root: Path, database_url: str | None = None, project: str | None = None) -> None:
        from collector.embedded import CollectorError, EmbeddedCollector, embedded_settings

        self._errors = CollectorError
        try:
            self._collector = EmbeddedCollector(embedded_settings(root, database_url), project)
        except CollectorError as ex:  # a bad setting or database URL, no such project
            raise _mapped(ex) from ex
        self.url = self._collector.location
        self._busy: str | None = None

    def _call(self, method: str, *args: Any) -> Any:
        self._busy = method
        try:
            return getattr(self._collector, method)(*args)
        except self._errors as ex:
            raise _mapped(ex) from ex
        finally:
            self._busy = None

    def get_run(self, run_id: str) -> dict[str, Any]:
        """Return the run, or raise NotFound."""
        return self._call("get_run", run_id)

    def ensure_run(self, run_id: str) -> dict[str, Any]:
        """Return the run, creating it on first use."""
        return self._call("ensure_run", run_id)

    def create_run(self, name: str, tags: dict[str, str | None]) -> dict[str, Any]:
        return self._call("create_run", name, tags)

    def list_runs(self, limit: int) -> list[dict[str, Any]]:
        return self._call("list_runs", limit)

    def update_run(
        self, run_id: str, status: str | None = None, tags: dict[str, str | None] | None = None
    ) -> dict[str, Any]:
        return self._call("update_run", run_id, status, tags)

    def list_results(self, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
        return self._call("list_results", run_id, status)

    def compare(self, run_id: str, base_id: str | None = None) -> dict[str, Any]:
        return self._call("compare", run_id, base_id)

    def case_codes(self) -> set[str]:
        return self._call("case_codes")

    def create_case(self, code: str, title: str) -> dict[str, Any]:
        return self._call("create_case", code, title)

    def import_cases(self, rows: list[tuple[str, str]]) -> int:
        return self._call("import_cases", rows)

    def post_results(self, run_id: str, results: list[dict[str, Any]]) -> PostOutcome:
        status, accepted, errors = self._call("post_results", run_id, results)
        return PostOutcome(status, accepted, errors)

    def upload_attachment(self, result_id: str, files: list[Attachment]) -> list[dict[str, Any]]:
        """Stream each file from its path into the collector's storage (never read whole)."""
        with contextlib.ExitStack() as opened:
            streams = [(f.name, opened.enter_context(f.path.open("rb"))) for f in files]
            return self._call("upload_attachment", result_id, streams)

    def activity(self) -> str | None:
        """What it is doing right now (a locked SQLite database makes a write wait)."""
        busy = self._busy
        return f"waiting for the database {self.url} ({busy.replace('_', ' ')})" if busy else None

    def close(self) -> None:
        self._collector.close()
