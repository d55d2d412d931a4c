"""The one door through which the pytest plugin runs the collector in its own process.

`EmbeddedCollector` offers what the plugin's HTTP client offers — runs, cases, the bulk
upsert, a run's results, attachments — by calling the same domain functions (and the same
request validation) the HTTP resources call, on ``QAHUB_DATABASE_URL`` (default
``.qahub/qahub.db`` under ``root``). No socket, no token: everything belongs to one project,
the default one unless a key is given. Errors are :class:`collector.errors.CollectorError`
subclasses, as over HTTP.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import peewee
from pydantic import BaseModel, ValidationError

from collector import cases, flaky, runs
from collector.compare import compare_run
from collector.config import DEFAULT_DATABASE_URL, Settings, load_settings
from collector.db import open_database
from collector.errors import BadRequest, ServiceUnavailable
from collector.migrations import upgrade
from collector.projects import get_project
from collector.results import batch_items, iter_results, status_filter, upsert_results
from collector.schemas import CaseIn, RunIn, RunPatch, describe
from collector.storage import open_storage

_Body = TypeVar("_Body", bound=BaseModel)


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
        self.db = open_database(settings)
        upgrade(self.db)
        self.storage = open_storage(settings)
        self._lock = threading.Lock()  # the plugin writes from one sender thread; be safe anyway
        try:
            with self._session():
                self.project = get_project(project)
        except Exception:
            self.db.close_all()  # no such project: leave no connection open behind the error
            raise

    @property
    def location(self) -> str:
        """Where the data lives, for messages."""
        return self.settings.database_url

    @contextmanager
    def _session(self) -> Iterator[None]:
        try:
            with self._lock, self.db.connection_context():
                yield
        except peewee.OperationalError as ex:
            # A locked or unreachable database is worth another try later, like a 503.
            raise ServiceUnavailable(f"The database is unavailable: {ex}") from ex

    def ensure_run(self, run_id: str) -> dict:
        """Return run ``run_id``, creating it on first use."""
        with self._session():
            return runs.run_dict(runs.ensure_run(self.project, run_id))

    def get_run(self, run_id: str) -> dict:
        """Return run ``run_id`` like ``GET /runs/{id}`` (NotFound when there is none)."""
        with self._session():
            return runs.run_dict(runs.get_run(self.project, run_id))

    def create_run(self, name: str = "", tags: dict[str, str | None] | None = None) -> dict:
        """Create a run with a new id like ``POST /runs``."""
        body = _valid(RunIn, {"name": name, **(tags or {})})
        with self._session():
            return runs.run_dict(runs.create_run(self.project, body.name, tags=body.tags()))

    def list_runs(self, limit: int) -> list[dict]:
        """The newest runs first, like ``GET /runs?limit=``."""
        with self._session():
            page, _ = runs.list_runs(self.project, limit, 0)
            return [runs.run_dict(run) for run in page]

    def update_run(
        self, run_id: str, status: str | None = None, tags: dict[str, str | None] | None = None
    ) -> dict:
        """Change a run's status and/or tags like ``PATCH /runs/{id}``."""
        fields = {"status": status} if status is not None else {}
        body = _valid(RunPatch, {**fields, **(tags or {})})
        with self._session():
            run = runs.get_run(self.project, run_id)
            return runs.run_dict(runs.update_run(run, status=body.status, tags=body.tags()))

    def list_results(self, run_id: str, status: str | None = None) -> list[dict]:
        """A run's results like ``GET /runs/{id}/results[?status=]``."""
        status = status_filter(status)
        with self._session():
            return list(iter_results(runs.get_run(self.project, run_id), status))

    def case_codes(self) -> set[str]:
        """The code of every test case of the project."""
        with self._session():
            return cases.case_codes(self.project)

    def create_case(self, code: str, title: str) -> dict:
        body = _valid(CaseIn, {"code": code, "title": title})
        with self._session():
            return cases.case_dict(cases.create_case(self.project, body.code, body.title))

    def import_cases(self, rows: Sequence[tuple[str, str]]) -> int:
        """Create the cases whose codes are new, all or none; return how many were new."""
        valid = [_valid(CaseIn, {"code": code, "title": title}) for code, title in rows]
        with self._session():
            return cases.import_cases(self.project, [(body.code, body.title) for body in valid])

    def post_results(self, run_id: str, results: list[dict]) -> tuple[int, list[dict], list[dict]]:
        """Bulk-upsert like ``POST /runs/{id}/results``; return ``(status, accepted, errors)``."""
        items = batch_items({"results": results}, self.settings.max_batch)
        with self._session():
            outcome = upsert_results(self.project, run_id, items)
        return (207 if outcome.errors else 201), outcome.accepted, outcome.errors

    def compare(self, run_id: str, base_id: str | None = None, window: int = flaky.DEFAULT_WINDOW) -> dict:
        """Compare a run with ``base_id`` or its previous run, like ``GET /runs/{id}/compare``."""
        with self._session():
            return compare_run(self.project, run_id, base_id, window).as_dict()

    def upload_attachment(self, result_id: str, files: Sequence[tuple[str, bytes]]) -> list[dict]:
        """Attach ``(file name, content)`` pairs to a result, like ``POST /results/{id}/attachments``."""
        # Imported here: the multipart stack behind it adds a quarter of a second to every
        # pytest session's start, and most sessions upload nothing.
        from collector import attachments

        streams = [(name, io.BytesIO(content)) for name, content in files]
        limits = attachments.upload_limits(self.settings)
        with self._session():
            stored = attachments.attach_files(self.project, result_id, streams, self.storage, limits)
            return [attachments.attachment_dict(a) for a in stored]

    def close(self) -> None:
        self.db.close_all()


def _valid(model: type[_Body], data: dict) -> _Body:
    """Validate a request body as the HTTP resource does; a bad one is a BadRequest."""
    try:
        return model.model_validate(data)
    except ValidationError as ex:
        raise BadRequest(describe(ex)) from ex
