"""Ingest throughput: results posted over HTTP vs. the raw driver's floor, in one run.

    python bench/ingest.py [--results 100000] [--batch 500] [--threads 4] [--postgres URL]

For each database: the raw floor (the same ``INSERT … ON CONFLICT`` run with the driver's
``executemany`` in one process, new rows then updates), then 4 client threads posting
batches to a real ``qahub serve`` (new rows, then the update path). Prints rows/s and ratios.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from _seed import Seeder, code
from _server import Server


def new_run(server: Server) -> str:
    """A new run on the server (its cases were made by :func:`raw_floor`)."""
    return server.qahub("run", "create", "--name", "bench").strip()


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
    local = __import__("threading").local()

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


def raw_floor(database_url: str, count: int) -> tuple[float, float]:
    """Upsert ``count`` rows with the bare driver (new, then update); return rows/s for each."""
    from collector.ids import new_ids
    from collector.models import Run, TestCase
    from collector.results import FIELDS, _db_time, _upsert_sql

    seeder = Seeder(database_url)
    seeder.ensure_cases(count)
    db = seeder.db
    with seeder.connection():
        run = Run.create(project=seeder.project, name="raw")
        # Sorted by case id, as the collector writes them (the same index order, a fair floor).
        case_ids = sorted(c for (c,) in TestCase.select(TestCase.id).limit(count).tuples())
    sqlite = database_url.startswith("sqlite")
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
        sql = _upsert_sql(db.param)
        start = time.perf_counter()
        with seeder.connection():
            cursor = db.cursor()
            for i in range(0, len(rows), 500):
                with db.atomic():
                    cursor.executemany(sql, rows[i : i + 500])
        rates.append(count / (time.perf_counter() - start))
    seeder.close()
    return rates[0], rates[1]


def bench(label: str, database_url: str | None, args: argparse.Namespace, workdir: Path) -> None:
    server = Server(workdir / label, database_url)
    try:
        raw_new, raw_update = raw_floor(server.env["QAHUB_DATABASE_URL"], args.results)
        run_id = new_run(server)
        t0 = dt.datetime.now(dt.UTC)
        http_new = post_all(server, run_id, items(args.results, "PASSED", t0), args.batch, args.threads)
        later = t0 + dt.timedelta(seconds=1)
        http_update = post_all(server, run_id, items(args.results, "FAILED", later), args.batch, args.threads)
        rss = server.rss_kib("VmHWM") // 1024
    finally:
        server.stop()
    print(f"{label:<10} raw floor   new {raw_new:>9,.0f} rows/s   update {raw_update:>9,.0f} rows/s")
    print(
        f"{label:<10} HTTP        new {http_new:>9,.0f} rows/s   update {http_update:>9,.0f} rows/s   "
        f"ratio new {http_new / raw_new:.2f}  update {http_update / raw_update:.2f}   "
        f"server peak RSS {rss} MiB"
    )


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--postgres", default=os.environ.get("QAHUB_TEST_DATABASE_URL"))
    args = parser.parse_args()
    print(f"{args.results:,} results, batches of {args.batch}, {args.threads} client threads")
    with tempfile.TemporaryDirectory() as tmp:
        bench("sqlite", None, args, Path(tmp))
        if args.postgres:
            from tests.support.databases import fresh_postgres

            with fresh_postgres() as url:
                bench("postgres", url, args, Path(tmp))


if __name__ == "__main__":
    main()
