"""Results: the bulk upsert and the streamed listing of a run's results.

The upsert is built for throughput: the batch is validated in one pydantic call, and the rows
go to the driver as one ``INSERT … ON CONFLICT`` statement run with ``executemany`` — no
per-row query building. The ``WHERE`` on the conflict update keeps an older result from
overwriting a newer one, so replaying an old batch never undoes a rerun.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
import peewee

from collector import responses
from collector.db import database, is_sqlite, write_transaction
from collector.errors import BadRequest, Conflict, PayloadTooLarge
from collector.ids import new_ids
from collector.models import Project, Result, Run, TestCase, utcnow
from collector.runs import mark_written, run_status
from collector.schemas import ResultIn, validate_items
from qahub_contract import RESULT_STATUSES

FIELDS = (
    "status",
    "comment",
    "bug_ticket_key",
    "bug_ticket_url",
    "duration_ms",
    "framework",
    "error_message",
    "error_stack",
    "executed_at",
)
_COLUMNS = ("id", "run_id", "test_case_id", *FIELDS, "created_at", "updated_at")
_UPDATED = (*FIELDS, "updated_at")
_TABLE = Result._meta.table_name
_CASES = TestCase._meta.table_name
_LIST_PAGE = 1000


@dataclass
class UpsertOutcome:
    """What a bulk upsert accepted (in request order) and what it rejected."""

    accepted: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)


def batch_items(body: object, max_batch: int) -> list:
    """Return the items of a bulk upsert's body ``{"results": [...]}``: one at least, ``max_batch`` at most.

    The items themselves are checked one by one by `upsert_results`.
    """
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise BadRequest('The body must be an object with a "results" list')
    items = body["results"]
    if not items:
        raise BadRequest('"results" is empty: send at least one result')
    if len(items) > max_batch:
        raise PayloadTooLarge(f"{len(items)} results in one request; the limit is {max_batch}")
    return items


def status_filter(status: str | None) -> str | None:
    """Return the ``status`` a listing of results is filtered by, refusing one that is no result status."""
    if status is not None and status not in RESULT_STATUSES:
        raise BadRequest(f"status must be one of {', '.join(RESULT_STATUSES)}")
    return status


def _on_conflict() -> str:
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in _UPDATED)
    return (
        f'ON CONFLICT ("run_id", "test_case_id") DO UPDATE SET {updates} '
        f'WHERE excluded."executed_at" >= "{_TABLE}"."executed_at"'
    )


def _upsert_sql(param: str) -> str:
    """The upsert of one row, for ``executemany``."""
    columns = ", ".join(f'"{c}"' for c in _COLUMNS)
    values = ", ".join(param for _ in _COLUMNS)
    return f'INSERT INTO "{_TABLE}" ({columns}) VALUES ({values}) {_on_conflict()}'


def _sqlite_batch_sql() -> str:
    """The upsert of a whole batch passed as one JSON array of rows (SQLite's ``json_each``).

    One statement means one trip into SQLite per batch: ``executemany`` gives up Python's
    lock around every row, and in a process that also runs tests (the embedded collector)
    each row then waits for the test thread to hand it back.
    """
    columns = ", ".join(f'"{c}"' for c in _COLUMNS)
    picks = ", ".join(f"json_extract(j.value, '$[{i}]')" for i in range(len(_COLUMNS)))
    # "WHERE true" lets SQLite's parser tell the ON CONFLICT clause from a join constraint.
    select = f"SELECT {picks} FROM json_each(?) AS j WHERE true"
    return f'INSERT INTO "{_TABLE}" ({columns}) {select} {_on_conflict()}'


def _db_time(value: dt.datetime, sqlite: bool) -> dt.datetime | str:
    # SQLite compares timestamps as text: one fixed format keeps that ordering right.
    return value.isoformat(sep=" ", timespec="microseconds") if sqlite else value


def _reference(item: ResultIn | dict) -> dict:
    get = item.get if isinstance(item, dict) else lambda k: getattr(item, k, None)
    ref = {k: get(k) for k in ("test_case_code", "test_case_id") if isinstance(get(k), str)}
    return ref


def _select_in(sql: str, fixed: tuple, values: list) -> list[tuple]:
    """Run ``sql`` with ``IN ({marks})`` expanded for each chunk of ``values``; return all rows."""
    rows: list[tuple] = []
    for chunk in peewee.chunked(values, 500):
        marks = ", ".join([database.param] * len(chunk))
        rows.extend(
            database.execute_sql(sql.format(p=database.param, marks=marks), (*fixed, *chunk)).fetchall()
        )
    return rows


def _case_ids(project: Project, items: list[tuple[int, ResultIn]]) -> tuple[dict, dict]:
    """Map the codes and ids the items name to ``(case id, code)`` of this project's cases."""
    codes = list({i.test_case_code for _, i in items if i.test_case_code is not None})
    ids = list({i.test_case_id for _, i in items if i.test_case_id is not None})
    sql = f'SELECT "id", "code" FROM "{_CASES}" WHERE "project_id" = {{p}} AND "{{column}}" IN ({{marks}})'
    found = _select_in(sql.replace("{column}", "code"), (project.id,), codes)
    found += _select_in(sql.replace("{column}", "id"), (project.id,), ids)
    by_code = {code: (case_id, code) for case_id, code in found}
    by_id = {case_id: (case_id, code) for case_id, code in found}
    return by_code, by_id


def upsert_results(project: Project, run_id: str, raw_items: list) -> UpsertOutcome:
    """Validate and upsert a batch into a run; report per item what was accepted or rejected."""
    outcome = UpsertOutcome()
    valid, invalid = validate_items(raw_items)
    rejected = {index: (_reference(raw), message) for index, raw, message in invalid}
    now = utcnow()
    sqlite = is_sqlite(database)
    # Cases are never deleted, so they can be looked up before taking SQLite's write lock:
    # the less a batch does under it, the more batches of other writers get through.
    by_code, by_id = _case_ids(project, valid)
    with write_transaction():
        status = run_status(project, run_id)
        if status == "COMPLETED":
            raise Conflict(f"Run '{run_id}' is COMPLETED and takes no more results")
        rows: dict[str, tuple] = {}  # case id -> row; a later item for the same case wins
        resolved: list[tuple[int, str, str, str]] = []
        ids = iter(new_ids(len(valid)))
        stamp = _db_time(now, sqlite)
        for index, item in valid:
            if item.test_case_code is not None:
                case = by_code.get(item.test_case_code)
                missing = f"No test case with code '{item.test_case_code}' in this project"
            else:
                case = by_id.get(item.test_case_id)
                missing = f"No test case with id '{item.test_case_id}' in this project"
            if case is None:
                rejected[index] = (_reference(item), missing)
                continue
            case_id, code = case
            values = [getattr(item, f) for f in FIELDS]
            values[-1] = _db_time(item.executed_at or now, sqlite)  # executed_at is the last field
            rows[case_id] = (next(ids), run_id, case_id, *values, stamp, stamp)
            resolved.append((index, case_id, code, item.status))
        if rows:
            # Rows go in case-id order: concurrent batches sharing cases then lock them in
            # the same order, so PostgreSQL never sees a deadlock between two upserts.
            ordered = [rows[case_id] for case_id in sorted(rows)]
            result_ids = _write_rows(run_id, ordered, sqlite)
            mark_written(run_id, status, now)
            outcome.accepted = [
                {
                    "id": result_ids[case_id],
                    "test_case_id": case_id,
                    "test_case_code": code,
                    "status": status,
                }
                for _, case_id, code, status in resolved
            ]
    for index in sorted(rejected):
        reference, message = rejected[index]
        outcome.errors.append({"index": index, **reference, "message": message})
    return outcome


def _write_rows(run_id: str, rows: list[tuple], sqlite: bool) -> dict[str, str]:
    """Upsert the rows; return the result id of each case.

    PostgreSQL returns the ids from the upsert itself: a separate look-up is planned from
    table statistics that lag a burst of inserts, and then scans the whole run. A row the
    conflict rule left alone (an older result) returns nothing and is looked up instead.
    """
    cursor = database.cursor()
    if sqlite:  # no RETURNING for a batch here; the look-up's planner uses the unique index
        cursor.execute(_sqlite_batch_sql(), (orjson.dumps(rows).decode(),))
        return _result_ids(run_id, [row[2] for row in rows])
    cursor.executemany(_upsert_sql(database.param) + ' RETURNING "test_case_id", "id"', rows, returning=True)
    found: dict[str, str] = {}
    while True:
        found.update(cursor.fetchall())
        if not cursor.nextset():
            break
    missing = [row[2] for row in rows if row[2] not in found]
    return {**found, **_result_ids(run_id, missing)} if missing else found


def _result_ids(run_id: str, case_ids: list[str]) -> dict[str, str]:
    sql = f'SELECT "test_case_id", "id" FROM "{_TABLE}" WHERE "run_id" = {{p}} AND "test_case_id" IN ({{marks}})'  # noqa: E501
    return dict(_select_in(sql, (run_id,), case_ids))


_LIST_COLUMNS = ("id", "test_case_id", "test_case_code", *FIELDS, "created_at", "updated_at")
_STREAM_CHUNK = 200


def iter_results(run: Run, status: str | None = None) -> Iterator[responses.Result]:
    """Yield a run's results page by page (keyset on id), so memory stays flat on huge runs."""
    param = database.param
    cols = ", ".join(f'r."{c}"' for c in FIELDS)
    sql = (
        f'SELECT r."id", r."test_case_id", c."code", {cols}, r."created_at", r."updated_at" '
        f'FROM "{_TABLE}" r JOIN "{TestCase._meta.table_name}" c ON c."id" = r."test_case_id" '
        f'WHERE r."run_id" = {param} AND r."id" > {param}'
        + (f' AND r."status" = {param}' if status else "")
        + f' ORDER BY r."id" LIMIT {_LIST_PAGE}'
    )
    last = ""
    while True:
        params = (run.id, last, status) if status else (run.id, last)
        rows = database.execute_sql(sql, params).fetchall()
        for row in rows:
            yield dict(zip(_LIST_COLUMNS, row, strict=True))
        if len(rows) < _LIST_PAGE:
            return
        last = rows[-1][0]


def stream_json(records: Iterator[responses.Result], on_close) -> Iterator[bytes]:
    """Encode a `responses.ResultList` incrementally; call ``on_close`` however the stream ends.

    Each chunk of results is serialised in one call (pydantic's Rust serialiser), not row by row.
    """
    try:
        yield b'{"data":['
        separator, records = b"", iter(records)
        while chunk := list(itertools.islice(records, _STREAM_CHUNK)):
            yield separator + responses.RESULTS.dump_json(chunk)[1:-1]  # the list's items, no brackets
            separator = b","
        yield b"]}"
    finally:
        on_close()
