"""Scale: per-result costs with 10k, 100k, 300k and 1M results in the database.

    python bench/scale.py [--levels 10000,100000,300000,1000000] [--max-seed-seconds 60] [--postgres URL]

Grows one fresh database (SQLite; PostgreSQL too when QAHUB_TEST_DATABASE_URL or
``--postgres`` is set) level by level, seeding runs of up to 100,000 results in process with
the collector's bulk upsert, and at each level measures, with the collector's own code:

- a 500-result upsert batch into a new run (new rows), then the same batch again (updates);
- listing a 10,000-result run (``iter_results``), per result;
- a case lookup by code (``get_case``), 1,000 random codes.

Each figure is the median of ``--repeats`` alternating rounds. With the indexes doing their
job the per-result costs stay flat. A level is skipped when seeding it would take longer
than ``--max-seed-seconds`` at the rate measured so far.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from _measure import median, table
from _seed import Seeder, code, items, sqlite_url

from collector.cases import get_case
from collector.results import iter_results, upsert_results
from collector.runs import create_run, get_run

RUN_SIZE = 100_000
LISTED = 10_000
BATCH = 500
LOOKUPS = 1000


def upsert_costs(seeder: Seeder, cases: int) -> tuple[float, float]:
    """Seconds per result of one 500-result batch into a new run: new rows, then updates."""
    first = random.randrange(0, cases - BATCH)
    with seeder.connection():
        run_id = create_run(seeder.project, "scale batch").id
        batch = items(first, BATCH)
        start = time.perf_counter()
        upsert_results(seeder.project, run_id, batch)
        new = time.perf_counter() - start
        later = items(first, BATCH, status="FAILED")
        start = time.perf_counter()
        upsert_results(seeder.project, run_id, later)
        update = time.perf_counter() - start
    return new / BATCH, update / BATCH


def listing_cost(seeder: Seeder, run_id: str) -> float:
    """Seconds per result of reading a run of LISTED results."""
    with seeder.connection():
        run = get_run(seeder.project, run_id)
        start = time.perf_counter()
        count = sum(1 for _ in iter_results(run))
        elapsed = time.perf_counter() - start
    if count != LISTED:
        raise RuntimeError(f"listed {count} results, expected {LISTED}")
    return elapsed / count


def lookup_cost(seeder: Seeder, cases: int) -> float:
    """Seconds per ``get_case`` by code."""
    codes = [code(random.randrange(cases)) for _ in range(LOOKUPS)]
    with seeder.connection():
        start = time.perf_counter()
        for c in codes:
            get_case(seeder.project, c)
        return (time.perf_counter() - start) / LOOKUPS


def grow(seeder: Seeder, target: int, held: int) -> tuple[int, float]:
    """Add runs until the database holds ``target`` results; return the count and seconds."""
    spent = 0.0
    while held < target:
        size = min(RUN_SIZE, target - held)
        _, seconds = seeder.run(size, "scale seed")
        spent += seconds
        held += size
    return held, spent


def bench(label: str, database_url: str, args: argparse.Namespace) -> None:
    seeder = Seeder(database_url)
    seeder.ensure_cases(RUN_SIZE)
    listed, _ = seeder.run(LISTED, "scale listed")
    held, rate = LISTED, 0.0
    rows = []
    try:
        for level in args.levels:
            if rate and (level - held) / rate > args.max_seed_seconds:
                eta = (level - held) / rate
                rows.append((f"{level:,}", f"skipped: seeding would take ~{eta:.0f} s", "", "", "", ""))
                break
            added = level - held
            held, seconds = grow(seeder, level, held)
            if added > 0 and seconds:
                rate = added / seconds
            new, update, listing, lookup = [], [], [], []
            upsert_costs(seeder, RUN_SIZE)  # warm-up: caches, the first statements
            listing_cost(seeder, listed)
            for _ in range(args.repeats):  # alternate the figures, round by round
                n, u = upsert_costs(seeder, RUN_SIZE)
                new.append(n)
                update.append(u)
                listing.append(listing_cost(seeder, listed))
                lookup.append(lookup_cost(seeder, RUN_SIZE))
            rows.append(
                (
                    f"{level:,}",
                    f"{seconds:.1f} s ({rate:,.0f}/s)" if added > 0 else "-",
                    f"{median(new) * 1e6:.1f} us",
                    f"{median(update) * 1e6:.1f} us",
                    f"{median(listing) * 1e6:.2f} us",
                    f"{median(lookup) * 1e6:.0f} us",
                )
            )
            print(f"{label}: {level:,} results measured", flush=True)
    finally:
        seeder.close()
    print(f"\n{label}: per-result costs as the database grows (medians of {args.repeats})")
    headers = ("results in db", "seeding", "upsert new", "upsert update", "listing", "case lookup")
    print(table(headers, rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--levels",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[10_000, 100_000, 300_000, 1_000_000],
        help="database sizes (default 10000,100000,300000,1000000)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-seed-seconds", type=float, default=60.0)
    parser.add_argument("--postgres", default=os.environ.get("QAHUB_TEST_DATABASE_URL"))
    args = parser.parse_args()
    random.seed(8)
    with tempfile.TemporaryDirectory() as tmp:
        bench("sqlite", sqlite_url(Path(tmp)), args)
        if args.postgres:
            os.environ.setdefault("QAHUB_TEST_DATABASE_URL", args.postgres)
            from tests.support.databases import fresh_postgres

            with fresh_postgres() as url:
                bench("postgres", url, args)


if __name__ == "__main__":
    main()
