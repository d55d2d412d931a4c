"""The one door through which the pytest plugin runs the collector in its own process.

What the door offers (``__all__``), and all the plugin may import from ``collector``:

- `embedded_settings` (``root``, ``database_url``): the environment's settings, with the
  database and attachments under ``root/.qahub/`` unless ``QAHUB_DATABASE_URL`` and
  ``QAHUB_STORAGE_DIR`` say otherwise.
- `EmbeddedCollector` (``settings``, ``project``): what the plugin's HTTP client offers — runs,
  cases, the bulk upsert, a run's results, comparisons, attachments — as method calls on the
  same domain functions (and the same request checks) the HTTP resources call. No socket, no
  token: everything belongs to one project, the default one unless a key is given.
- `CollectorError`: every failure of opening or using it — a bad setting or database URL
  (`SettingsError`, `DatabaseURLError`: 400), a database that is locked or unreachable (503),
  anything the API would refuse — is a subclass with the HTTP ``status`` (an int), ``code``
  and ``message`` the API would answer with, so one mapping by status covers them all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TypeVar

from pydantic import BaseModel, ValidationError

from collector import cases, responses, runs
from collector.config import DEFAULT_DATABASE_URL, Settings, load_settings
from collector.db import UNAVAILABLE
from collector.errors import BadRequest, CollectorError, DatabaseURLError, ServiceUnavailable, SettingsError
from collector.migrations import open_upgraded
from collector.models import Run
from collector.projects import get_project
from collector.schemas import CaseIn, RunIn, RunPatch, describe
from collector.storage import open_storage

__all__ = ["CollectorError", "DatabaseURLError", "EmbeddedCollector", "SettingsError", "embedded_settings"]

_Body = TypeVar("_Body", bound=BaseModel)


@contextmanager
def _database_available() -> Iterator[None]:
    """Turn a locked or unreachable database into a 503, worth another try later, as over HTTP."""
    try:
        yield
    except UNAVAILABLE as ex:
        raise ServiceUnavailable(f"The database is unavailable: {ex}") from ex


def embedded_settings(root: Path, database_url: str | None = None) -> Settings:
    """Settings for an embedded collector: the environment's, with paths relative to ``root``.

    ``database_url`` wins over ``QAHUB_DATABASE_URL`` (a journal names the database it was for).
    """
    overrides: dict[str, object] = {}
    if database_url:
        overrides["database_url"] = database_url
    elif "QAHUB_DATABASE_URL" not in os.environ:
        overrides["database_url"] = f"sqlite:///{root / DEFAULT_DATABASE_URL.removeprefix('sqlite:///')}"
    if "QAHUB_STORAGE_DIR" not in os.environ:
        overrides["storage_dir"] = root / ".qahub" / "attachments"
    return load_settings(**overrides)


class EmbeddedCollector:
    """The collector's API as method calls, for one process (thread-safe)."""

    def __init__(self, settings: Settings, project: str | None = None) -> None:
        self.settings = settings
        self._lock = threading.Lock()  # one call at a time, whichever thread the caller uses
        with _database_available():
            self.db = open_upgraded(settings)
        try:
            self.storage = open_storage(settings)
            with self._session():
                self.project = get_project(project)
        except BaseException:
            self.db.close_all()  # leave no connection open behind the error
            raise

    @property
    def location(self) -> str:
        """Where the data lives, for messages."""
        return self.settings.database_url

    @contextmanager
    def _session(self) -> Iterator[None]:
        with _database_available(), self._lock, self.db.connection_context():
            yield

    def ensure_run(self, run_id: str) -> dict:
        """Return run ``run_id``, creating it on first use."""
        with self._session():
            return _run(runs.ensure_run(self.project, run_id))

    def get_run(self, run_id: str) -> dict:
        """Return run ``run_id`` like ``GET /runs/{id}`` (NotFound when there is none)."""
        with self._session():
            return _run(runs.get_run(self.project, run_id))

    def create_run(self, name: str = "", tags: dict[str, str | None] | None = None) -> dict:
        """Create a run with a new id like ``POST /runs``."""
        body = _valid(RunIn, {"name": name, **(tags or {})})
        with self._session():
            return _run(runs.create_run(self.project, body.name, tags=body.tags()))

    def list_runs(self, limit: int) -> list[dict]:
        """The newest runs first, like ``GET /runs?limit=``."""
        with self._session():
            page, _ = runs.list_runs(self.project, limit, 0)
            return [_run(run) for run in page]

    def update_run(
        self, run_id: str, status: str | None = None, tags: dict[str, str | None] | None = None
    ) -> dict:
        """Change a run's status and/or tags like ``PATCH /runs/{id}``."""
        fields = {"status": status} if status is not None else {}
        body = _valid(RunPatch, {**fields, **(tags or {})})
        with self._session():
            run = runs.get_run(self.project, run_id)
            return _run(runs.update_run(run, status=body.status, tags=body.tags()))

    # Results, comparisons and attachments are imported where first used: a session's delivery
    # process answers its check before the tests without them (bench/overhead.py, --tests 1).

    def list_results(self, run_id: str, status: str | None = None) -> list[dict]:
        """A run's results like ``GET /runs/{id}/results[?status=]``."""
        from collector.results import iter_results, status_filter

        status = status_filter(status)
        with self._session():
            found = list(iter_results(runs.get_run(self.project, run_id), status))
        return responses.RESULTS.dump_python(found, mode="json")

    def case_codes(self) -> set[str]:
        """The code of every test case of the project."""
        with self._session():
            return cases.case_codes(self.project)

    def create_case(self, code: str, title: str) -> dict:
        body = _valid(CaseIn, {"code": code, "title": title})
        with self._session():
            case = cases.create_case(self.project, body.code, body.title)
        return responses.Case.model_validate(case).model_dump(mode="json")

    def import_cases(self, rows: Sequence[tuple[str, str]]) -> int:
        """Create the cases whose codes are new, all or none; return how many were new."""
        valid = [_valid(CaseIn, {"code": code, "title": title}) for code, title in rows]
        with self._session():
            return cases.import_cases(self.project, [(body.code, body.title) for body in valid])

    def post_results(self, run_id: str, results: list[dict]) -> tuple[int, list[dict], list[dict]]:
        """Bulk-upsert like ``POST /runs/{id}/results``; return ``(status, accepted, errors)``."""
        from collector.results import batch_items, upsert_results

        items = batch_items({"results": results}, self.settings.max_batch)
        with self._session():
            outcome = upsert_results(self.project, run_id, items)
        return (207 if outcome.errors else 201), outcome.accepted, outcome.errors

    def compare(self, run_id: str, base_id: str | None = None, window: int | None = None) -> dict:
        """Compare a run with ``base_id`` or its previous run, like ``GET /runs/{id}/compare``."""
        from collector.compare import compare_run
        from collector.flaky import DEFAULT_WINDOW

        with self._session():
            comparison = compare_run(self.project, run_id, base_id, window or DEFAULT_WINDOW).as_response()
        return comparison.model_dump(mode="json")

    def upload_attachment(self, result_id: str, files: Sequence[tuple[str, BinaryIO]]) -> list[dict]:
        """Attach ``(file name, open binary file)`` pairs to a result like ``POST /results/{id}/attachments``.

        Each file is read a chunk at a time, never whole, through the checks an HTTP upload
        passes (size limit, type, duplicates); the caller closes the files.
        """
        from collector import attachments

        limits = attachments.upload_limits(self.settings)
        with self._session():
            stored = attachments.attach_files(self.project, result_id, files, self.storage, limits)
            return [responses.Attachment.model_validate(a).model_dump(mode="json") for a in stored]

    def close(self) -> None:
        """Close every database connection it holds."""
        self.db.close_all()


def _run(run: Run) -> dict:
    """A run as ``GET /runs/{id}`` answers it."""
    return responses.Run.model_validate(run).model_dump(mode="json")


def _valid(model: type[_Body], data: dict) -> _Body:
    """Validate a request body as the HTTP resource does; a bad one is a BadRequest."""
    try:
        return model.model_validate(data)
    except ValidationError as ex:
        raise BadRequest(describe(ex)) from ex
