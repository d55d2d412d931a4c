"""Questions across runs on a big history: a case's results, compare, flaky cases, failure groups.

    python bench/history.py [--runs 1000] [--cases 1000] [--repeats 15] [--plans] [--database-url URL]

Seeds ``--runs`` runs of ``--cases`` cases each (1,000 x 1,000 = one million results by
default) with raw bulk inserts (SQLite: ``executemany``; PostgreSQL: ``COPY``) into a fresh
SQLite file, or into the empty PostgreSQL database ``--database-url`` names. The history looks
like a real project's: most runs on ``main`` in two environments, the rest on forty feature
branches; a rerun of a commit now and then; 2 % of the cases flaky, a few broken for good, some
skipped; failure messages with numbers and ids in them; the last run with new failures.

Then it times each answer through the Falcon app in process (no network: what is measured is
the collector's work, JSON included), median and slowest of ``--repeats`` after one warm-up,
with the number of SQL statements each costs. ``--plans`` prints each statement's query plan.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
import falcon.testing
from _measure import median, table

from collector import tokens
from collector.app import create_app
from collector.config import Settings
from collector.db import database, is_sqlite, open_database
from collector.ids import new_ids
from collector.migrations import upgrade
from collector.models import Result, Run, TestCase
from collector.projects import get_project
from tests.support.statements import statements

START = dt.datetime(2026, 1, 1)
FEATURES = 40
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
MESSAGES = (
    "TimeoutError: page.goto: Timeout {ms}ms exceeded while loading /orders/{n}",
    "AssertionError: expected 'Order {n} confirmed', got 'Payment declined'",
    "KeyError: session {cuid} expired after {ms} ms",
    "ConnectionError: HTTPConnectionPool(host='db-{n}', port=5432): max retries exceeded",
)


def code(n: int) -> str:
    return f"H-{n:06d}"


class Plan:
    """The seeded project's shape: which run is where, and what each case does."""

    def __init__(self, runs: int, cases: int, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.runs, self.cases, self.rng = runs, cases, rng
        self.flaky = set(rng.sample(range(cases), cases // 50))
        self.broken_from = {n: rng.randrange(runs) for n in rng.sample(range(cases), cases // 100)}
        self.skipped = set(rng.sample(range(cases), cases // 20))
        self.new_in_last = set(rng.sample(sorted(set(range(cases)) - self.flaky - self.skipped), 10))

    def run_tags(self, n: int) -> tuple[str, str, str]:
        """(branch, environment, commit) of run ``n``; every fifth main run reruns the last commit."""
        branch = f"feature/{n % FEATURES}" if n % 5 in (1, 3) else "main"
        environment = "linux" if n % 2 == 0 else "windows"
        commit_no = n - 1 if branch == "main" and n % 10 == 4 else n
        return branch, environment, f"{commit_no * 2654435761 % 2**64:016x}{commit_no:024x}"

    def outcome(self, case: int, run: int) -> tuple[str, str | None, str | None]:
        """(status, error message, comment) of ``case`` in ``run``."""
        rng = self.rng
        if case in self.skipped:
            return "SKIPPED", None, None
        failing = (
            (case in self.flaky and rng.random() < 0.2)
            or (case in self.broken_from and run >= self.broken_from[case])
            or (run == self.runs - 1 and case in self.new_in_last)
        )
        if failing:
            template = MESSAGES[case % len(MESSAGES)]
            cuid = "c" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(24))
            message = template.format(ms=rng.randrange(1000, 60000), n=rng.randrange(10**6), cuid=cuid)
            return ("BROKEN" if case % 7 == 0 else "FAILED"), message, None
        if case in self.flaky and rng.random() < 0.05:
            return "PASSED", None, "passed on attempt 2 of 3"
        return "PASSED", None, None


def seed(database_url: str, plan: Plan, reuse: bool) -> tuple[float, list[str]]:
    """Fill the database; return the seconds it took and the run ids, oldest first.

    With ``reuse``, a database this script seeded before is timed again as it is.
    """
    db = open_database(Settings(database_url=database_url))
    upgrade(db)
    sqlite = is_sqlite(db)
    start = time.perf_counter()
    with db.connection_context():
        found = [r for (r,) in Run.select(Run.id).order_by(Run.created_at, Run.id).tuples()]
    if found:
        if not reuse:
            raise SystemExit(f"{database_url} already holds runs: give an empty database (or --reuse)")
        db.close_all()
        return 0.0, found
    with db.connection_context():
        project = get_project()

        def stamp(value: dt.datetime) -> dt.datetime | str:
            return value.isoformat(sep=" ", timespec="microseconds") if sqlite else value

        case_ids = new_ids(plan.cases)
        case_rows = [
            (case_ids[n], project.id, code(n), f"Case {n}", stamp(START), stamp(START))
            for n in range(plan.cases)
        ]
        run_ids = new_ids(plan.runs)
        run_rows = []
        for n in range(plan.runs):
            branch, environment, commit = plan.run_tags(n)
            created = stamp(START + dt.timedelta(hours=n))
            run_rows.append(
                (
                    run_ids[n],
                    project.id,
                    f"run {n}",
                    "COMPLETED",
                    created,
                    created,
                    created,
                    environment,
                    branch,
                    commit,
                )
            )

        def result_rows() -> Iterator[tuple]:
            for n in range(plan.runs):
                when = stamp(START + dt.timedelta(hours=n, minutes=1))
                ids = new_ids(plan.cases)
                for case in range(plan.cases):
                    status, message, comment = plan.outcome(case, n)
                    duration = 200 + (case * 37 + n * 11) % 3000
                    yield (
                        ids[case],
                        run_ids[n],
                        case_ids[case],
                        status,
                        comment,
                        duration,
                        "pytest",
                        message,
                        when,
                        when,
                        when,
                    )

        tables = {
            TestCase._meta.table_name: ("id", "project_id", "code", "title", "created_at", "updated_at"),
            Run._meta.table_name: (
                "id", "project_id", "name", "status", "created_at", "updated_at", "completed_at",
                "environment", "branch", "commit_sha",
            ),
            Result._meta.table_name: (
                "id", "run_id", "test_case_id", "status", "comment", "duration_ms", "framework",
                "error_message", "executed_at", "created_at", "updated_at",
            ),
        }  # fmt: skip
        with db.atomic():
            for (table, columns), rows in zip(
                tables.items(), (case_rows, run_rows, result_rows()), strict=True
            ):
                names = ", ".join(f'"{c}"' for c in columns)
                if sqlite:
                    marks = ", ".join("?" for _ in columns)
                    db.cursor().executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
                else:
                    with db.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                        for row in rows:
                            copy.write_row(row)
        if not sqlite:
            db.execute_sql("ANALYZE")  # as autovacuum does after a load like this
    db.close_all()
    return time.perf_counter() - start, run_ids


def sign_in(client: falcon.testing.TestClient, token: str) -> dict[str, str]:
    """Sign in to the web pages as a browser does; return the cookie header."""
    form = client.simulate_get("/login")
    cookie = f"qahub_session={form.cookies['qahub_session'].value}"
    answer = client.simulate_post(
        "/login",
        body=f"csrf={CSRF.search(form.text).group(1)}&token={token}&next=/",
        headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
    )
    return {"Cookie": f"qahub_session={answer.cookies['qahub_session'].value}"}


def explain(sql: str, params: tuple) -> list[str]:
    """The plan of one statement, one line per step."""
    if is_sqlite(database):
        rows = database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        return [f"{'  ' * (1 if parent else 0)}{detail}" for _, parent, _, detail in rows]
    return [line for (line,) in database.execute_sql(f"EXPLAIN {sql}", params).fetchall()]


def bench(label: str, database_url: str, args: argparse.Namespace, workdir: Path) -> None:
    plan = Plan(args.runs, args.cases)
    seconds, run_ids = seed(database_url, plan, args.reuse)
    size = args.runs * args.cases
    print(
        f"{label}: seeded {args.runs:,} runs x {args.cases:,} cases = {size:,} results in {seconds:.0f} s",
        flush=True,
    )
    settings = Settings(database_url=database_url, storage_dir=workdir / "attachments")
    db = open_database(settings)
    upgrade(db)
    with db.connection_context():
        token = tokens.create_token(get_project(), ("read",))[1]
    client = falcon.testing.TestClient(create_app(settings, db))
    api = {"Authorization": f"Bearer {token}"}
    web = sign_in(client, token)
    last, flaky_case = run_ids[-1], code(min(plan.flaky))
    with db.connection_context():
        flaky_case_id = TestCase.get(TestCase.code == flaky_case).id
    asks: dict[str, tuple[str, dict]] = {
        "GET /cases/{code}/results (100 of 1,000)": (f"/api/v1/cases/{flaky_case}/results", api),
        "GET /runs/{id}/compare (previous run)": (f"/api/v1/runs/{last}/compare", api),
        "GET /runs/{id}/compare?base= (run 0)": (f"/api/v1/runs/{last}/compare?base={run_ids[0]}", api),
        "GET /flaky (last 20 runs)": ("/api/v1/flaky", api),
        "GET /flaky?branch=main&window=20": ("/api/v1/flaky?branch=main&window=20", api),
        "GET /flaky?window=100": ("/api/v1/flaky?window=100", api),
        "GET /runs/{id}/failure-groups": (f"/api/v1/runs/{last}/failure-groups", api),
        "page /runs/{id}": (f"/runs/{last}", web),
        "page /cases/{id}": (f"/cases/{flaky_case_id}", web),
        "page /flaky": ("/flaky", web),
        "anchor: GET /api/v1/runs/{id}": (f"/api/v1/runs/{last}", api),
    }
    rows = []
    plans: dict[str, list[tuple[str, tuple]]] = {}
    for name, (path, headers) in asks.items():
        target, _, query = path.partition("?")

        def ask(target: str = target, query: str = query, headers: dict = headers) -> falcon.testing.Result:
            return client.simulate_get(target, query_string=query or None, headers=headers)

        with statements() as seen:
            first = ask()
        if first.status_code != 200:
            raise RuntimeError(f"{name}: {first.status_code} {first.text[:300]}")
        plans[name] = seen
        times, cpu = [], []
        for _ in range(args.repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            ask()
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        rows.append(
            (
                name,
                f"{median(times) * 1000:.1f} ms",
                f"{max(times) * 1000:.1f} ms",
                f"{median(cpu) * 1000:.1f} ms",
                str(len(seen)),
                f"{len(first.content) / 1024:.0f} KiB",
            )
        )
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(
        f"\n{label}: medians and slowest of {args.repeats}, in process through the Falcon app "
        f"(load average {load} on {os.cpu_count()} cores; CPU: this process's, not the database server's)"
    )
    print(table(("answer", "median", "slowest", "CPU (median)", "SQL statements", "body"), rows))
    if args.plans:
        with db.connection_context():
            for name, seen in plans.items():
                print(f"\n{label}: {name}")
                for sql, params in seen:
                    print(f"  {sql[:160]}{'…' if len(sql) > 160 else ''}")
                    for line in explain(sql, params):
                        print(f"      {line}")
    db.close_all()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a fresh SQLite file)")
    parser.add_argument("--plans", action="store_true", help="print each SQL statement's query plan")
    parser.add_argument("--reuse", action="store_true", help="time a database seeded by an earlier run again")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.database_url and args.database_url.startswith("sqlite"):
            bench("sqlite", args.database_url, args, Path(tmp))
        elif args.database_url:
            bench(
                "postgres" if args.database_url.startswith("postgres") else "database",
                args.database_url,
                args,
                Path(tmp),
            )
        else:
            bench("sqlite", f"sqlite:///{Path(tmp) / 'qahub.db'}", args, Path(tmp))


if __name__ == "__main__":
    main()
