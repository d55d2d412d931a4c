"""Retention: how long ingest waits while a large prune runs.

Seeds one run of ``--results`` results (the first ``--files`` with a small attachment in a
directory storage) into a scratch SQLite database (or ``--postgres URL``), makes it 60 days
old, and deletes it with ``collector.retention.prune`` while a writer thread upserts batches
of ``--batch`` results into another run, as ingest would. For contrast it deletes a second
such run as ``DELETE /runs/{id}`` does, in one transaction. It prints
the writer's latency per batch (median, 99th percentile, worst) with nothing else running and
during each deletion, and how long each deletion took.

    python bench/retention.py [--results 100000] [--files 200] [--batch 100] [--postgres URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from _measure import table
from _seed import Seeder, items, sqlite_url

from collector import attachments
from collector.config import Settings
from collector.models import Result, Run, utcnow
from collector.results import upsert_results
from collector.retention import BATCH_SIZE, prune
from collector.runs import create_run, delete_run
from collector.storage import DirectoryStorage

BASELINE_S = 3.0


class Writer:
    """A thread upserting one batch after another into a run, timing each, until stopped."""

    def __init__(self, seeder: Seeder, run_id: str, batch: int) -> None:
        self.seeder = seeder
        self.run_id = run_id
        self.rows = items(0, batch)
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write)

    def _write(self) -> None:
        with self.seeder.db.connection_context():
            while not self._stop.is_set():
                start = time.perf_counter()
                outcome = upsert_results(self.seeder.project, self.run_id, self.rows)
                self.latencies.append(time.perf_counter() - start)
                if outcome.errors:
                    raise RuntimeError(f"the writer was refused: {outcome.errors[:2]}")

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def seed_old_run(seeder: Seeder, storage: DirectoryStorage, results: int, files: int) -> str:
    run_id, _ = seeder.run(results, name="old")
    limits = attachments.upload_limits(Settings())
    with seeder.db.connection_context():
        ids = Result.select(Result.id).where(Result.run == run_id).order_by(Result.id).limit(files)
        for (result_id,) in ids.tuples():
            shot = [("console.log", io.BytesIO(b"a line of a log\n" * 64))]
            attachments.attach_files(seeder.project, result_id, shot, storage, limits)
        Run.update(created_at=utcnow() - dt.timedelta(days=60)).where(Run.id == run_id).execute()
    return run_id


def figures(label: str, latencies: list[float], took: float | None) -> list[str]:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return [
        label,
        f"{len(ms)}",
        f"{statistics.median(ms):.1f}",
        f"{p99:.1f}",
        f"{ms[-1]:.1f}",
        "" if took is None else f"{took:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=100_000, help="results in the pruned run")
    parser.add_argument("--files", type=int, default=200, help="of them with an attachment")
    parser.add_argument("--batch", type=int, default=100, help="results per writer batch")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to use instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qahub-bench-") as scratch:
        seeder = Seeder(args.postgres or sqlite_url(Path(scratch)))
        storage = DirectoryStorage(Path(scratch) / "attachments")
        seeder.ensure_cases(max(args.results, args.batch))
        with seeder.db.connection_context():
            live = create_run(seeder.project, "ingest").id
        rows = []
        with Writer(seeder, live, args.batch) as writer:
            time.sleep(BASELINE_S)  # a fixed stretch of ingest alone, as the baseline
        rows.append(figures("nothing else running", writer.latencies, None))
        for label in (f"qahub prune (batches of {BATCH_SIZE})", "DELETE /runs/{id} (one transaction)"):
            old = seed_old_run(seeder, storage, args.results, args.files)
            with Writer(seeder, live, args.batch) as writer:
                start = time.perf_counter()
                with seeder.db.connection_context():
                    if label.startswith("DELETE"):
                        delete_run(seeder.project, old, storage)
                    else:
                        prune(storage, 30)
                took = time.perf_counter() - start
            with seeder.db.connection_context():
                if Run.get_or_none(Run.id == old) is not None or any(storage.keys()):
                    raise RuntimeError("the run or its files are still there")
            rows.append(figures(label, writer.latencies, took))
        seeder.close()
    where = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{where}: deleting a run of {args.results} results ({args.files} with a file) while a writer")
    print(f"upserts batches of {args.batch} results into another run")
    print(table(("writer, while", "batches", "median ms", "p99 ms", "worst ms", "deletion s"), rows))


if __name__ == "__main__":
    main()
