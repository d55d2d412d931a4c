"""Test runs: created, listed, renamed, moved through PENDING → IN_PROGRESS → COMPLETED, deleted."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from functools import cache

import peewee

from collector import deletions
from collector.db import database, write_transaction
from collector.errors import BadRequest, Conflict, NotFound, shorten
from collector.ids import new_id, require_plausible
from collector.models import RUN_TAGS, Project, Result, Run, utcnow
from collector.storage import Storage

RUN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def get_run(project: Project, run_id: str) -> Run:
    """Return the project's run ``run_id``; a run of another project is 'not found' too."""
    run = Run.get_or_none((Run.id == run_id) & (Run.project == project))
    if run is None:
        raise NotFound(f"Run '{shorten(run_id)}' was not found")
    return run


@cache
def _status_sql(param: str) -> str:
    return f'SELECT "status" FROM "{Run._meta.table_name}" WHERE "id" = {param} AND "project_id" = {param}'


def run_status(project: Project, run_id: str) -> str:
    """Return the status of the project's run ``run_id``, raising NotFound as `get_run` does."""
    row = database.execute_sql(_status_sql(database.param), (run_id, project.id)).fetchone()
    if row is None:
        raise NotFound(f"Run '{shorten(run_id)}' was not found")
    return row[0]


def _completed(run_id: str) -> Conflict:
    return Conflict(f"Run '{run_id}' is COMPLETED and takes no more results")


def check_takes_results(project: Project, run_id: str) -> None:
    """Raise NotFound unless the project has run ``run_id``, Conflict if it is COMPLETED."""
    if run_status(project, run_id) == "COMPLETED":
        raise _completed(run_id)


@cache
def _written_sql(param: str) -> str:
    return (
        f'UPDATE "{Run._meta.table_name}" SET "updated_at" = {param}, '
        '"status" = CASE WHEN "status" = \'PENDING\' THEN \'IN_PROGRESS\' ELSE "status" END '
        f'WHERE "id" = {param} AND "project_id" = {param} AND "status" <> \'COMPLETED\''
    )


def mark_written(project: Project, run_id: str, now: dt.datetime) -> None:
    """Record that run ``run_id`` takes results: its ``updated_at``, and PENDING becomes IN_PROGRESS.

    Raises as `check_takes_results` does, changing nothing: one statement checks and records,
    for every batch of the bulk upsert asks.
    """
    params = (Run.updated_at.db_value(now), run_id, project.id)
    if database.execute_sql(_written_sql(database.param), params).rowcount == 0:
        run_status(project, run_id)  # NotFound for no such run in the project
        raise _completed(run_id)  # the run exists, so the update found it COMPLETED


def _known_tags(tags: Mapping[str, str | None]) -> dict[str, str | None]:
    unknown = set(tags) - set(RUN_TAGS)
    if unknown:
        raise ValueError(f"not a run tag: {', '.join(sorted(unknown))}")
    return dict(tags)


def create_run(
    project: Project, name: str = "", run_id: str | None = None, tags: Mapping[str, str | None] | None = None
) -> Run:
    """Create a run (with a generated id unless one is given), tagged with any of `RUN_TAGS`."""
    with write_transaction():
        return Run.create(id=run_id or new_id(), project=project, name=name, **_known_tags(tags or {}))


def ensure_run(
    project: Project, run_id: str, name: str = "", tags: Mapping[str, str | None] | None = None
) -> Run:
    """Return run ``run_id``, creating it in ``project`` (with ``tags``) if no run has that id."""
    if not RUN_ID.fullmatch(run_id):
        raise BadRequest(
            f"Run id {shorten(run_id)!r}: use 1-64 letters, digits, '.', '_' or '-' (e.g. local-1)"
        )
    with write_transaction():
        run = Run.get_or_none(Run.id == run_id)
        if run is None:
            return Run.create(id=run_id, project=project, name=name or run_id, **_known_tags(tags or {}))
    if run.project_id != project.id:
        raise NotFound(f"Run '{shorten(run_id)}' was not found")
    return run


def update_run(
    run: Run,
    name: str | None = None,
    status: str | None = None,
    tags: Mapping[str, str | None] | None = None,
) -> Run:
    """Rename a run, change its status and/or set its tags (a tag given as None is cleared)."""
    with write_transaction():
        if name is not None:
            run.name = name
        for tag, value in _known_tags(tags or {}).items():
            setattr(run, tag, value)
        if status is not None and status != run.status:
            run.status = status
            run.completed_at = utcnow() if status == "COMPLETED" else None
        run.updated_at = utcnow()
        run.save()
    return run


def list_runs(project: Project, limit: int, offset: int) -> tuple[list[Run], int]:
    """Return a page of the project's runs, newest first, and how many there are."""
    query = Run.select().where(Run.project == project)
    total = query.count()
    page = list(query.order_by(Run.created_at.desc(), Run.id.desc()).limit(limit).offset(offset))
    return page, total


def delete_run(project: Project, run_id: str, storage: Storage) -> None:
    """Delete a run with its results and attachments; remove the files once committed."""
    require_plausible("Run", run_id)
    with write_transaction():
        keys = delete_run_rows(get_run(project, run_id).id)
    deletions.remove_files(storage, keys)


def delete_run_rows(run_id: str) -> list[str]:
    """Delete a run's rows, listing its files for removal; return their keys (inside a transaction)."""
    keys = deletions.delete_result_rows(Result.select(Result.id).where(Result.run == run_id))
    Run.delete().where(Run.id == run_id).execute()
    return keys


def same_tag(field: peewee.Field, value: str | None) -> peewee.Expression:
    """``field`` equals ``value``, a missing tag matching a missing tag."""
    return field.is_null() if value is None else field == value


def created_up_to(run: Run) -> peewee.Expression:
    """Runs created before ``run`` (ties broken by id), and ``run`` itself."""
    anchor = Run.select(Run.created_at).where(Run.id == run.id)
    return (Run.created_at < anchor) | ((Run.created_at == anchor) & (Run.id <= run.id))
