"""Scale: per-result costs with 10k, 100k, 300k and 1M results in the database.

    python bench/scale.py [--levels 10000,100000,300000,1000000] [--max-seed-seconds 60] [--postgres URL]

Grows one fresh database (SQLite; PostgreSQL too when QAHUB_TEST_DATABASE_URL or
``--postgres`` is set) level by level, seeding runs of up to 100,000 results in process with
the collector's bulk upsert, and at each level measures, with the collector's own code:

- a 500-result upsert batch into a new run (new rows), then the same batch again (updates);
- listing a 10,000-result run (``iter_results``), per result;
- a case lookup by code (``get_case``), 1,000 random codes.

Each figure is the median of ``--repeats`` rounds that alternate between the grown database
and a control database of 10,000 results, and is shown with its ratio to the control's: the
machine's load moves both alike, so with the indexes doing their job the ratios stay near 1.
A level is skipped when seeding it would take longer than ``--max-seed-seconds`` at the rate
measured so far.
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


def measure(seeder: Seeder, listed: str, repeats: int) -> list[list[float]]:
    """One round of the four figures, seconds per result: upsert new, update, listing, lookup."""
    figures: list[list[float]] = [[], [], [], []]
    for _ in range(repeats):
        new, update = upsert_costs(seeder, RUN_SIZE)
        for values, value in zip(
            figures, (new, update, listing_cost(seeder, listed), lookup_cost(seeder, RUN_SIZE)), strict=True
        ):
            values.append(value)
    return figures


def bench(label: str, database_url: str, control_url: str, args: argparse.Namespace) -> None:
    """Grow the database level by level; measure it and a 10,000-result control database in turn.

    The machine is shared, so a level measured a minute later may run on a busier machine: the
    control (same code, same operations, a database that does not grow), measured in the same
    rounds, turns each figure into a ratio that load does not move.
    """
    seeder, control = Seeder(database_url), Seeder(control_url)
    seeder.ensure_cases(RUN_SIZE)
    control.ensure_cases(RUN_SIZE)
    listed, _ = seeder.run(LISTED, "scale listed")
    control_listed, _ = control.run(LISTED, "scale listed")
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
            measure(seeder, listed, 1)  # warm-up: caches, the first statements
            measure(control, control_listed, 1)
            ours: list[list[float]] = [[], [], [], []]
            theirs: list[list[float]] = [[], [], [], []]
            for _ in range(args.repeats):  # alternate: the grown database, then the control
                for values, more in zip(ours, measure(seeder, listed, 1), strict=True):
                    values.extend(more)
                for values, more in zip(theirs, measure(control, control_listed, 1), strict=True):
                    values.extend(more)
            cells = []
            for values, reference, unit in zip(ours, theirs, (1, 1, 2, 0), strict=True):
                cost = median(values) * 1e6
                cells.append(f"{cost:.{unit}f} us ({cost / (median(reference) * 1e6):.2f})")
            seeding = f"{seconds:.1f} s ({rate:,.0f}/s)" if added > 0 else "-"
            rows.append((f"{level:,}", seeding, *cells))
            print(f"{label}: {level:,} results measured", flush=True)
    finally:
        seeder.close()
        control.close()
    print(
        f"\n{label}: per-result costs as the database grows (medians of {args.repeats}; in brackets "
        "the ratio to the same figure on a 10,000-result control database measured in the same rounds)"
    )
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
        (Path(tmp) / "control").mkdir()
        bench("sqlite", sqlite_url(Path(tmp)), sqlite_url(Path(tmp) / "control"), args)
        if args.postgres:
            os.environ.setdefault("QAHUB_TEST_DATABASE_URL", args.postgres)
            from tests.support.databases import fresh_postgres

            with fresh_postgres() as url, fresh_postgres() as control_url:
                bench("postgres", url, control_url, args)


if __name__ == "__main__":
    main()
