"""Results: the bulk upsert and the streamed listing of a run's results.

The upsert is built for throughput: the batch is validated in one pydantic call, its rows
built before the write lock, and written with one ``INSERT … ON CONFLICT`` statement per
batch (a multi-row ``VALUES`` on SQLite, ``unnest`` of one array per column on PostgreSQL).
The ``WHERE`` on the conflict update keeps an older result from overwriting a newer one, so
replaying an old batch never undoes a rerun.
"""

from __future__ import annotations

import datetime as dt
import itertools
import operator
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

import orjson
import peewee

from collector import responses
from collector.db import database, is_sqlite, write_transaction
from collector.errors import BadRequest, PayloadTooLarge
from collector.ids import new_ids
from collector.models import Project, Result, Run, TestCase, utcnow
from collector.runs import check_takes_results, mark_written, run_status
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


@cache
def _sqlite_values_sql(count: int) -> str:
    """The upsert of ``count`` rows in one multi-row ``VALUES`` statement (SQLite).

    One statement is one trip into SQLite, where ``executemany`` would make one per row; each
    trip gives up the GIL and must win it back from the other threads, and in a process that
    also runs tests (the embedded collector) each then waits for the test thread.
    """
    columns = ", ".join(f'"{c}"' for c in _COLUMNS)
    row = "(" + ", ".join("?" for _ in _COLUMNS) + ")"
    return f'INSERT INTO "{_TABLE}" ({columns}) VALUES {", ".join([row] * count)} {_on_conflict()}'


#: PostgreSQL array types of the columns that are not text, for ``unnest``.
_ARRAY_TYPES = {
    "duration_ms": "bigint",
    **dict.fromkeys(("executed_at", "created_at", "updated_at"), "timestamp"),
}


@cache
def _postgres_batch_sql() -> str:
    """The upsert of a batch given as one array per column (PostgreSQL's ``unnest``).

    One statement and one round trip per batch, ids returned: an ``executemany`` of the
    one-row statement plans and runs each row on its own.
    """
    columns = ", ".join(f'"{c}"' for c in _COLUMNS)
    arrays = ", ".join(f"%s::{_ARRAY_TYPES.get(c, 'text')}[]" for c in _COLUMNS)
    return (
        f'INSERT INTO "{_TABLE}" ({columns}) SELECT * FROM unnest({arrays}) {_on_conflict()} '
        'RETURNING "test_case_id", "id"'
    )


def _db_time(value: dt.datetime, sqlite: bool) -> dt.datetime | str:
    # SQLite compares timestamps as text: one fixed format keeps that ordering right.
    return value.isoformat(" ", "microseconds") if sqlite else value


def _reference(item: ResultIn | dict) -> dict:
    get = item.get if isinstance(item, dict) else lambda k: getattr(item, k, None)
    ref = {k: get(k) for k in ("test_case_code", "test_case_id") if isinstance(get(k), str)}
    return ref


def _select_pairs(pair: str, rest: str, fixed: tuple, values: list) -> list[tuple[str, str]]:
    """Run ``SELECT {pair} {rest}``, ``rest`` ending in ``IN ({marks})``, for each chunk of ``values``.

    On SQLite the pairs come back as one JSON value: fetched row by row, each row would be a
    trip into SQLite that gives up the GIL and waits to win it back from the busy threads.
    """
    sqlite = is_sqlite(database)
    pick = f"json_group_array(json_array({pair}))" if sqlite else pair
    rows: list[tuple[str, str]] = []
    for chunk in peewee.chunked(values, 500):
        marks = ", ".join([database.param] * len(chunk))
        sql = f"SELECT {pick} " + rest.format(p=database.param, marks=marks)
        cursor = database.execute_sql(sql, (*fixed, *chunk))
        if sqlite:
            rows.extend(map(tuple, orjson.loads(cursor.fetchone()[0])))
        else:
            rows.extend(cursor.fetchall())
    return rows


def _case_ids(project: Project, items: list[tuple[int, ResultIn]]) -> tuple[dict, dict]:
    """Map the codes and ids the items name to ``(case id, code)`` of this project's cases."""
    codes = list({i.test_case_code for _, i in items if i.test_case_code is not None})
    ids = list({i.test_case_id for _, i in items if i.test_case_id is not None})
    rest = f'FROM "{_CASES}" WHERE "project_id" = {{p}} AND "{{column}}" IN ({{marks}})'
    found = _select_pairs('"id", "code"', rest.replace("{column}", "code"), (project.id,), codes)
    found += _select_pairs('"id", "code"', rest.replace("{column}", "id"), (project.id,), ids)
    by_code = {code: (case_id, code) for case_id, code in found}
    by_id = {case_id: (case_id, code) for case_id, code in found}
    return by_code, by_id


#: A result's values in ``_COLUMNS`` order from ``FIELDS`` up to ``executed_at`` (the last).
_pick = operator.attrgetter(*FIELDS[:-1])


@dataclass
class _Batch:
    """A validated batch with its rows built, ready to write."""

    rows: list[tuple]  # in case-id order
    resolved: list[tuple[int, str, str, str]]  # (index, case id, code, status) of each accepted item
    rejected: dict[int, tuple[dict, str]]  # index -> (reference, message)
    now: dt.datetime

    def outcome(self, result_ids: dict[str, str]) -> UpsertOutcome:
        """The answer, given the written rows' ids; an item whose row has no id was written and
        then deleted before its id was read (SQLite reads them after the commit): its error."""
        accepted = []
        rejected = dict(self.rejected)
        for index, case_id, code, status in self.resolved:
            if case_id in result_ids:
                accepted.append(
                    {
                        "id": result_ids[case_id],
                        "test_case_id": case_id,
                        "test_case_code": code,
                        "status": status,
                    }
                )
            else:
                rejected[index] = (
                    {"test_case_code": code},
                    "The result was deleted while this batch was written",
                )
        errors = [{"index": i, **rejected[i][0], "message": rejected[i][1]} for i in sorted(rejected)]
        return UpsertOutcome(accepted, errors)


def upsert_results(project: Project, run_id: str, raw_items: list) -> UpsertOutcome:
    """Validate and upsert a batch into a run; report per item what was accepted or rejected."""
    batch = _prepare(project, run_id, raw_items)
    with write_transaction():
        result_ids = _write(project, run_id, batch)
    if result_ids is None:
        # SQLite: a result's id never changes once its row is written, so it is read after
        # the commit, outside the write lock, which other writers are waiting for.
        result_ids = _result_ids(run_id, [row[2] for row in batch.rows])
        if len(result_ids) < len(batch.rows):
            run_status(project, run_id)  # NotFound: the run was deleted since (its rows went with it)
    return batch.outcome(result_ids)


def _prepare(project: Project, run_id: str, raw_items: list) -> _Batch:
    """Validate the items, find their cases and build their rows, all before the write lock.

    The less a batch does under the lock, the more batches of other writers get through.
    Cases are never deleted, so looking them up first is safe.
    """
    valid, invalid = validate_items(raw_items)
    rejected = {index: (_reference(raw), message) for index, raw, message in invalid}
    now = utcnow()
    sqlite = is_sqlite(database)
    by_code, by_id = _case_ids(project, valid)
    rows: dict[str, tuple] = {}  # case id -> row; a later item for the same case wins
    resolved: list[tuple[int, str, str, str]] = []
    ids = iter(new_ids(len(valid)))
    stamp = _db_time(now, sqlite)
    for index, item in valid:
        coded = item.test_case_code is not None
        case = by_code.get(item.test_case_code) if coded else by_id.get(item.test_case_id)
        if case is None:
            named = f"code '{item.test_case_code}'" if coded else f"id '{item.test_case_id}'"
            rejected[index] = (_reference(item), f"No test case with {named} in this project")
            continue
        case_id, code = case
        executed_at = _db_time(item.executed_at or now, sqlite)
        rows[case_id] = (next(ids), run_id, case_id, *_pick(item), executed_at, stamp, stamp)
        resolved.append((index, case_id, code, item.status))
    # Rows go in case-id order: concurrent batches sharing cases then lock them in the same
    # order, so PostgreSQL never sees a deadlock between two upserts.
    return _Batch([rows[case_id] for case_id in sorted(rows)], resolved, rejected, now)


def _write(project: Project, run_id: str, batch: _Batch) -> dict[str, str] | None:
    """Write a prepared batch in the open write transaction; return the result id of each case
    (None on SQLite: to be read once the transaction is over)."""
    if not batch.rows:
        check_takes_results(project, run_id)
        return {}
    if is_sqlite(database):  # the whole database is locked: one statement checks the run and marks it
        mark_written(project, run_id, batch.now)
        return _write_rows(run_id, batch.rows, sqlite=True)
    # PostgreSQL locks the run's row from its update to the commit: last, so concurrent
    # batches of one run write their rows side by side. It checks the run again, so a run
    # completed meanwhile takes none of them.
    check_takes_results(project, run_id)
    result_ids = _write_rows(run_id, batch.rows, sqlite=False)
    mark_written(project, run_id, batch.now)
    return result_ids


def _write_rows(run_id: str, rows: list[tuple], sqlite: bool) -> dict[str, str] | None:
    """Upsert the rows; return the result id of each case (PostgreSQL; SQLite: None).

    PostgreSQL returns the ids from the upsert itself: a separate look-up is planned from
    table statistics that lag a burst of inserts, and then scans the whole run. A row the
    conflict rule left alone (an older result) returns nothing and is looked up instead.
    SQLite's RETURNING would hand back one row per trip: its ids are looked up after the
    commit, in one trip planned on the unique index.
    """
    cursor = database.cursor()
    if sqlite:
        limit = database.connection().getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        per_statement = min(500, limit // len(_COLUMNS))
        for chunk in peewee.chunked(rows, per_statement):
            cursor.execute(_sqlite_values_sql(len(chunk)), list(itertools.chain.from_iterable(chunk)))
        return None
    cursor.execute(_postgres_batch_sql(), [list(column) for column in zip(*rows, strict=True)])
    found = dict(cursor.fetchall())
    missing = [row[2] for row in rows if row[2] not in found]
    return {**found, **_result_ids(run_id, missing)} if missing else found


def _result_ids(run_id: str, case_ids: list[str]) -> dict[str, str]:
    rest = f'FROM "{_TABLE}" WHERE "run_id" = {{p}} AND "test_case_id" IN ({{marks}})'
    return dict(_select_pairs('"test_case_id", "id"', rest, (run_id,), case_ids))


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
