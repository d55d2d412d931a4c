"""Listing: ``GET /runs/{id}/results`` of a 100,000-result run through a real ``qahub serve``.

    python bench/listing.py [--results 100000 --small 10000] [--repeats 3] [--postgres URL]

Seeds two runs (``--results`` and ``--small`` results) in process with the collector's own
bulk upsert (batches of 1000) on a fresh SQLite database — and on a fresh PostgreSQL
database when QAHUB_TEST_DATABASE_URL (or ``--postgres``) is set — then starts ``qahub
serve`` on it and lists each run, alternating big and small: time to the first byte of the
body, time to the end, bytes, and the server's peak memory growth (``VmHWM``, reset through
``/proc/<pid>/clear_refs`` before each request, minus the RSS before it). The anchor is the
same listing in process (the collector's ``iter_results`` + ``stream_json``, no HTTP).
If memory does not grow with the run's size, the two runs' growth is about the same.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from _measure import alternate, median, table
from _seed import Seeder, sqlite_url
from _server import Server


@dataclass
class Listing:
    first_byte: float
    total: float
    size: int
    growth_kib: int
    count: int


def list_over_http(server: Server, run_id: str) -> Listing:
    server.reset_peak()
    before = server.rss_kib("VmRSS")
    start = time.perf_counter()
    response = server.session.get(f"{server.api}/runs/{run_id}/results", stream=True, timeout=300)
    response.raise_for_status()
    first_byte = 0.0
    size = 0
    body = bytearray()
    for chunk in response.iter_content(65536):
        if not first_byte:
            first_byte = time.perf_counter() - start
        size += len(chunk)
        body += chunk
    total = time.perf_counter() - start
    growth = server.rss_kib("VmHWM") - before
    count = body.count(b'"test_case_code"')
    return Listing(first_byte, total, size, growth, count)


def list_in_process(seeder: Seeder, run_id: str) -> Listing:
    """The same rows and bytes without HTTP: the anchor."""
    from collector.results import iter_results, stream_json
    from collector.runs import get_run

    start = time.perf_counter()
    first_byte = 0.0
    size = 0
    with seeder.connection():
        run = get_run(seeder.project, run_id)
        for part in stream_json(iter_results(run), lambda: None):
            if not first_byte and len(part) > len(b'{"data":['):
                first_byte = time.perf_counter() - start
            size += len(part)
    return Listing(first_byte, time.perf_counter() - start, size, 0, 0)


def bench(label: str, database_url: str, args: argparse.Namespace, workdir: Path) -> None:
    seeder = Seeder(database_url)
    runs = {}
    for results in (args.results, args.small):
        run_id, seconds = seeder.run(results, f"listing {results}")
        runs[results] = run_id
        print(f"{label}: seeded {results:,} results in {seconds:.1f} s ({results / seconds:,.0f}/s)")
    server = Server(workdir / label, database_url)
    try:
        server.session.get(f"{server.api}/runs/{runs[args.small]}/results", timeout=60)  # warm-up
        idle = server.rss_kib("VmRSS")
        names = [f"{n}" for n in runs]
        http = alternate(names, args.repeats, lambda n: list_over_http(server, runs[int(n)]))
        local = alternate(names, args.repeats, lambda n: list_in_process(seeder, runs[int(n)]))
    finally:
        server.stop()
        seeder.close()
    rows = []
    for name in names:
        results = int(name)
        h, anchor = http[name], local[name]
        if any(listing.count != results for listing in h):
            raise RuntimeError(f"{label}: the listing of {results} results returned {[x.count for x in h]}")
        total = median([x.total for x in h])
        anchor_total = median([x.total for x in anchor])
        rows.append(
            (
                f"{results:,}",
                f"{median([x.first_byte for x in h]) * 1000:.0f} ms",
                f"{total:.2f} s",
                f"{results / total:,.0f}/s",
                f"{median([x.size for x in h]) / 2**20:.1f} MiB",
                f"{median([x.growth_kib for x in h]) / 1024:+.1f} MiB",
                f"{anchor_total:.2f} s",
                f"{anchor_total / total:.2f}",
            )
        )
    print(
        f"\n{label}: GET /api/v1/runs/{{id}}/results "
        f"(medians of {args.repeats}; idle server {idle / 1024:.0f} MiB)"
    )
    headers = (
        "results",
        "first byte",
        "to the end",
        "rate",
        "bytes",
        "peak RSS growth",
        "in process",
        "in process / HTTP",
    )
    print(table(headers, rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=int, default=100_000, help="the big run (default 100,000)")
    parser.add_argument("--small", type=int, default=10_000, help="the small run (default 10,000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("QAHUB_TEST_DATABASE_URL"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on kill too
    with tempfile.TemporaryDirectory() as tmp:
        bench("sqlite", sqlite_url(Path(tmp)), args, Path(tmp))
        if args.postgres:
            os.environ.setdefault("QAHUB_TEST_DATABASE_URL", args.postgres)
            from tests.support.databases import fresh_postgres

            with fresh_postgres() as url:
                bench("postgres", url, args, Path(tmp))


if __name__ == "__main__":
    main()
