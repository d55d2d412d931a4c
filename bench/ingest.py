"""Ingest throughput: results posted over HTTP vs. the raw driver's floors, side by side.

    python bench/ingest.py [--results 50000] [--rounds 5] [--batch 500] [--threads 4] [--postgres URL]

Each round runs, in shuffled order, the floors and the HTTP upload on fresh databases, each as
new rows then as updates. A floor upserts the same rows with the bare driver: the collector's
own schema and ``INSERT … ON CONFLICT``, 500 rows per transaction, in case-id order, with ids
made per batch as the collector makes them (SQLite: WAL, ``synchronous=FULL``).

- ``executemany``: the driver's ``executemany`` of the one-row statement (both databases);
- ``values`` (PostgreSQL): one multi-row ``VALUES`` statement per batch, as psycopg2's
  ``execute_values`` builds;
- ``copy`` (PostgreSQL): ``COPY`` of the batch into a temporary table, then one
  ``INSERT … SELECT … ON CONFLICT`` from it.

HTTP is ``--threads`` clients posting batches to a real ``qahub serve``. Prints the medians of
rows/s and of each round's HTTP/floor ratio, with the range of the ratios.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import itertools
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from _seed import Seeder, code
from _server import Server

from collector.ids import new_ids
from collector.models import Run, TestCase
from collector.results import _COLUMNS, _TABLE, FIELDS, _db_time, _on_conflict

PHASES = ("new", "update")


def items(count: int, status: str, when: dt.datetime) -> list[dict]:
    stamp = when.isoformat()
    return [
        {"test_case_code": code(n), "status": status, "duration_ms": n % 1000, "framework": "pytest",
         "executed_at": stamp, "error_message": None if status == "PASSED" else "assert 1 == 2"}
        for n in range(count)
    ]  # fmt: skip


def post_all(server: Server, run_id: str, rows: list[dict], batch: int, threads: int) -> float:
    """Post ``rows`` in batches from ``threads`` clients; return rows per second."""
    bodies = [orjson.dumps({"results": rows[i : i + batch]}) for i in range(0, len(rows), batch)]
    url = f"{server.api}/runs/{run_id}/results"
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    local = threading.local()

    def send(body: bytes) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        response = session.post(url, data=body, headers=headers, timeout=120)
        if response.status_code != 201:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, bodies))
    return len(rows) / (time.perf_counter() - start)


def http(database_url: str, workdir: Path, args: argparse.Namespace) -> tuple[float, float]:
    """Post ``args.results`` new results to a real server, then their updates; rows/s of each."""
    server = Server(workdir, database_url)
    try:
        seeder = Seeder(server.env["QAHUB_DATABASE_URL"])
        seeder.ensure_cases(args.results)
        seeder.close()
        run_id = server.qahub("run", "create", "--name", "bench").strip()
        t0 = dt.datetime.now(dt.UTC)
        new = post_all(server, run_id, items(args.results, "PASSED", t0), args.batch, args.threads)
        later = t0 + dt.timedelta(seconds=1)
        update = post_all(server, run_id, items(args.results, "FAILED", later), args.batch, args.threads)
    finally:
        server.stop()
    return new, update


def _executemany(db, cursor, rows: list[tuple]) -> None:
    one = ", ".join([db.param] * len(_COLUMNS))
    cursor.executemany(f'INSERT INTO "{_TABLE}" ({_columns()}) VALUES ({one}) {_on_conflict()}', rows)


def _values(db, cursor, rows: list[tuple]) -> None:
    one = "(" + ", ".join([db.param] * len(_COLUMNS)) + ")"
    sql = f'INSERT INTO "{_TABLE}" ({_columns()}) VALUES {", ".join([one] * len(rows))} {_on_conflict()}'
    cursor.execute(sql, list(itertools.chain.from_iterable(rows)))


def _copy(db, cursor, rows: list[tuple]) -> None:
    cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS "stage" (LIKE "{_TABLE}") ON COMMIT DELETE ROWS')
    with cursor.copy(f'COPY "stage" ({_columns()}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(f'INSERT INTO "{_TABLE}" ({_columns()}) SELECT {_columns()} FROM "stage" {_on_conflict()}')


def _columns() -> str:
    return ", ".join(f'"{c}"' for c in _COLUMNS)


FLOORS: dict[str, Callable] = {"executemany": _executemany, "values": _values, "copy": _copy}


def raw_floor(database_url: str, count: int, how: str = "executemany") -> tuple[float, float]:
    """Upsert ``count`` rows with the bare driver (new, then update); return rows/s for each."""
    seeder = Seeder(database_url)
    seeder.ensure_cases(count)
    db = seeder.db
    with seeder.connection():
        run = Run.create(project=seeder.project, name="raw")
        # Sorted by case id, as the collector writes them (the same index order, a fair floor).
        case_ids = sorted(c for (c,) in TestCase.select(TestCase.id).limit(count).tuples())
    sqlite = database_url.startswith("sqlite")
    write = FLOORS[how]
    rates = []
    for status in ("PASSED", "FAILED"):
        now = _db_time(dt.datetime.now(dt.UTC).replace(tzinfo=None), sqlite)
        # Ids made per 500-row batch, as the collector makes them: each batch's share one
        # millisecond prefix, so the primary key grows batch by batch. (One call for all rows
        # would give them one prefix and random order, and the floor would pay for inserting
        # 100,000 random keys: 4-7 times slower on SQLite.)
        ids = [rid for first in range(0, count, 500) for rid in new_ids(min(500, count - first))]
        rows = [
            (rid, run.id, cid, status, None, None, None, n % 1000, "pytest",
             None if status == "PASSED" else "assert 1 == 2", None, now, now, now)
            for n, (rid, cid) in enumerate(zip(ids, case_ids, strict=True))
        ]  # fmt: skip
        assert len(rows[0]) == len(FIELDS) + 5
        start = time.perf_counter()
        with seeder.connection():
            cursor = db.cursor()
            for i in range(0, len(rows), 500):
                with db.atomic():
                    write(db, cursor, rows[i : i + 500])
        rates.append(count / (time.perf_counter() - start))
    seeder.close()
    return rates[0], rates[1]


def one_round(args: argparse.Namespace, workdir: Path, rates: dict) -> None:
    """Run every floor and the HTTP upload once, in shuffled order, adding to ``rates``."""
    variants = [("sqlite", how) for how in ("executemany", "HTTP")]
    if args.postgres:
        variants += [("postgres", how) for how in ("executemany", "values", "copy", "HTTP")]
    random.shuffle(variants)
    for database, how in variants:
        where = workdir / f"{database}-{how}"
        where.mkdir()
        with _database(database, where) as url:
            if how == "HTTP":
                rates[database, how].append(http(url, where, args))
            else:
                rates[database, how].append(raw_floor(url, args.results, how))


@contextmanager
def _database(kind: str, where: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{where / 'qahub.db'}"
        return
    from tests.support.databases import fresh_postgres

    with fresh_postgres() as url:
        yield url


def report(rates: dict) -> None:
    for (database, how), runs in sorted(rates.items()):
        line = f"{database:<9} {how:<12}" + "".join(
            f"  {phase} {statistics.median(r[i] for r in runs):>9,.0f} rows/s"
            for i, phase in enumerate(PHASES)
        )
        print(line)
    for database in sorted({d for d, _ in rates}):
        http_runs = rates[database, "HTTP"]
        for (other, how), floor in sorted(rates.items()):
            if other != database or how == "HTTP":
                continue
            parts = []
            for i, phase in enumerate(PHASES):
                ratios = [h[i] / f[i] for h, f in zip(http_runs, floor, strict=True)]
                parts.append(f"{phase} {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
            print(f"{database:<9} HTTP / {how:<12} " + "   ".join(parts))


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--results", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--postgres", default=os.environ.get("QAHUB_TEST_DATABASE_URL"))
    args = parser.parse_args()
    if args.postgres:  # where tests.support.databases makes its throw-away databases
        os.environ["QAHUB_TEST_DATABASE_URL"] = args.postgres
    print(f"{args.results:,} results, batches of {args.batch}, {args.threads} clients, {args.rounds} rounds")
    rates: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for n in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            one_round(args, Path(tmp), rates)
        print(f"round {n + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    report(rates)


if __name__ == "__main__":
    main()
