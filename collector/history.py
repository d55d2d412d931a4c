"""A test case's results across runs, newest first: its history in the API and on its page.

Each query reads the ``result_case_history`` index (test case, executed_at, id) backwards, so
a page costs the same whether the case has ten results or a million.
"""

from __future__ import annotations

from collector import responses
from collector.db import database
from collector.models import FAILING_STATUSES, Result, Run, TestCase
from collector.results import FIELDS

_RESULTS = Result._meta.table_name
_RUNS = Run._meta.table_name
_COLUMNS = ("id", "test_case_id", *FIELDS, "created_at", "updated_at")
_RUN_COLUMNS = ("id", "name", "branch", "commit", "environment")


def _select(where: str) -> str:
    cols = ", ".join(f'r."{c}"' for c in _COLUMNS)
    return (
        f'SELECT {cols}, u."id", u."name", u."branch", u."commit_sha", u."environment" '
        f'FROM "{_RESULTS}" r JOIN "{_RUNS}" u ON u."id" = r."run_id" '
        f'WHERE r."test_case_id" = {database.param}{where} '
        f'ORDER BY r."executed_at" DESC, r."id" DESC LIMIT {database.param} OFFSET {database.param}'
    )


def _record(case: TestCase, row: tuple) -> responses.HistoryResult:
    record = dict(zip(_COLUMNS, row[: len(_COLUMNS)], strict=True))
    record["test_case_code"] = case.code
    record["run"] = dict(zip(_RUN_COLUMNS, row[len(_COLUMNS) :], strict=True))
    return record


def case_history(case: TestCase, limit: int, offset: int) -> tuple[list[responses.HistoryResult], int]:
    """Return one page of a case's results across runs (newest first, by executed_at) and their total.

    Each result is serialised as in a run's listing, with ``test_case_code`` and its run's
    ``id``, ``name``, ``branch``, ``commit`` and ``environment`` under ``run``.
    """
    param = database.param
    total_sql = f'SELECT COUNT(*) FROM "{_RESULTS}" WHERE "test_case_id" = {param}'
    total = database.execute_sql(total_sql, (case.id,)).fetchone()[0]
    rows = database.execute_sql(_select(""), (case.id, limit, offset)).fetchall()
    return [_record(case, row) for row in rows], total


def latest_failure(case: TestCase) -> responses.HistoryResult | None:
    """Return the case's most recent failed or broken result (as `case_history` shows it), if any."""
    marks = ", ".join([database.param] * len(FAILING_STATUSES))
    sql = _select(f' AND r."status" IN ({marks})')
    row = database.execute_sql(sql, (case.id, *FAILING_STATUSES, 1, 0)).fetchone()
    return None if row is None else _record(case, row)
