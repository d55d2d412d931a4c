"""Fill a collector database fast, in process, with the collector's own bulk upsert."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import peewee

from collector.config import Settings
from collector.db import database, is_sqlite, open_database
from collector.ids import new_id
from collector.migrations import upgrade
from collector.models import Project, TestCase
from collector.projects import get_project
from collector.results import _db_time, upsert_results
from collector.runs import create_run

SEED_BATCH = 1000


def code(n: int) -> str:
    return f"S-{n:07}"


def items(first: int, count: int, status: str = "PASSED", when: dt.datetime | None = None) -> list[dict]:
    """Results for cases ``first`` … ``first + count - 1``; every tenth one FAILED."""
    stamp = (when or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds")
    return [
        {
            "test_case_code": code(n),
            "status": "FAILED" if status == "PASSED" and n % 10 == 0 else status,
            "duration_ms": n % 1000,
            "framework": "pytest",
            "executed_at": stamp,
            "error_message": "assert 1 == 2" if n % 10 == 0 else None,
        }
        for n in range(first, first + count)
    ]


class Seeder:
    """An open collector database and its default project."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.db: peewee.Database = open_database(Settings(database_url=database_url))
        upgrade(self.db)
        with self.connection():
            self.project: Project = get_project()
        self.cases = 0

    @contextmanager
    def connection(self) -> Iterator[None]:
        database.initialize(self.db)  # the models' proxy: several seeders can take turns
        with self.db.connection_context():
            yield

    def ensure_cases(self, count: int) -> None:
        """Make cases ``S-0000000`` … exist up to ``count``."""
        if count <= self.cases:
            return
        # The driver's executemany: peewee's insert_many builds every row in Python (3x slower).
        now = _db_time(dt.datetime.now(dt.UTC).replace(tzinfo=None), is_sqlite(self.db))
        table = TestCase._meta.table_name
        sql = (
            f'INSERT INTO "{table}" ("id", "project_id", "code", "title", "created_at", "updated_at") '
            f"VALUES ({', '.join([self.db.param] * 6)})"
        )
        rows = [(new_id(), self.project.id, code(n), "", now, now) for n in range(self.cases, count)]
        with self.connection(), self.db.atomic():
            self.db.cursor().executemany(sql, rows)
        self.cases = count

    def run(self, results: int, name: str = "seed") -> tuple[str, float]:
        """Create a run holding ``results`` results (cases 0 …); return its id and the seconds it took."""
        self.ensure_cases(results)
        start = time.perf_counter()
        with self.connection():
            run_id = create_run(self.project, name).id
            when = dt.datetime.now(dt.UTC)
            for first in range(0, results, SEED_BATCH):
                outcome = upsert_results(
                    self.project, run_id, items(first, min(SEED_BATCH, results - first), when=when)
                )
                if outcome.errors:
                    raise RuntimeError(f"seeding rejected: {outcome.errors[:3]}")
        return run_id, time.perf_counter() - start

    def close(self) -> None:
        self.db.close_all()


def sqlite_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'qahub.db'}"
