"""The web page of a big run: how long its first page and the runs list take to render.

    python bench/web_page.py [--results 50000] [--repeats 5]

Seeds a run of ``--results`` results (every tenth FAILED) on a fresh SQLite database — and on
PostgreSQL when QAHUB_TEST_DATABASE_URL is set — starts ``qahub serve``, signs in with a read
token like a browser (form, CSRF field, cookie) and times ``GET /runs/{id}`` (first page,
failed first), ``GET /runs/{id}?status=FAILED`` and ``GET /``, alternating, median of
``--repeats``. The anchor is ``GET /api/v1/runs/{id}`` (one run row) on the same server: the
cost of a request that does no work.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from _measure import alternate, median, table
from _seed import Seeder, sqlite_url
from _server import Server

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(server: Server) -> requests.Session:
    """A browser-like session signed in with a new read token."""
    token = server.qahub("token", "create", "--scopes", "read").strip()
    browser = requests.Session()
    csrf = CSRF.search(browser.get(f"{server.url}/login", timeout=30).text).group(1)
    response = browser.post(
        f"{server.url}/login",
        data={"csrf": csrf, "token": token, "next": "/"},
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 303:
        raise RuntimeError(f"sign-in failed: {response.status_code}")
    return browser


def bench(label: str, database_url: str, results: int, repeats: int, workdir: Path) -> list[list[str]]:
    seeder = Seeder(database_url)
    run_id, seconds = seeder.run(results, name="big")
    seeder.close()
    print(f"{label}: seeded {results:,} results in {seconds:.1f} s", flush=True)
    server = Server(workdir / label, database_url)
    try:
        browser = sign_in(server)
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {server.token}"
        pages = {
            "run page 1": (browser, f"{server.url}/runs/{run_id}"),
            "run page, FAILED only": (browser, f"{server.url}/runs/{run_id}?status=FAILED"),
            "runs list": (browser, f"{server.url}/"),
            "anchor: GET /api/v1/runs/{id}": (api, f"{server.api}/runs/{run_id}"),
        }

        def fetch(name: str) -> float:
            session, url = pages[name]
            start = time.perf_counter()
            response = session.get(url, timeout=60)
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {response.status_code}")
            return elapsed

        for name in pages:  # warm the caches once, as any second visitor finds them
            fetch(name)
        times = alternate(list(pages), repeats, fetch)
    finally:
        server.stop()
    anchor = median(times["anchor: GET /api/v1/runs/{id}"])
    return [
        [f"{label}: {name}", f"{median(values) * 1000:.0f} ms", f"{median(values) / anchor:.1f}x"]
        for name, values in times.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("QAHUB_TEST_DATABASE_URL"))
    args = parser.parse_args()
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += bench("sqlite", sqlite_url(Path(tmp)), args.results, args.repeats, Path(tmp))
        if args.postgres:
            from tests.support.databases import fresh_postgres

            with fresh_postgres() as url:
                rows += bench("postgres", url, args.results, args.repeats, Path(tmp))
    print(table(["page", "median", "vs. anchor"], rows))


if __name__ == "__main__":
    main()
