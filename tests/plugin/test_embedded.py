"""End to end: ``pytest --qahub-run=local-1`` with no URL reports to the embedded collector."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.databases import fresh_postgres
from tests.support.server import CollectorServer

SUITE = """
import pytest

@pytest.mark.qahub("SHOP-1")
def test_passes():
    pass

@pytest.mark.qahub("SHOP-2")
@pytest.mark.parametrize("n", [1, 2])
def test_fails_for_two(n):
    assert n == 1

@pytest.mark.qahub("SHOP-3")
@pytest.mark.skip(reason="not yet")
def test_skipped():
    pass

def test_unmapped():
    pass
"""

# Proves that no process of the session (controller, xdist worker) loads the collector:
# only the delivery process opens the database.
WORKER_CHECK = """
import sys

def pytest_sessionfinish(session):
    worker = getattr(session.config, "workerinput", None)
    name = worker["workerid"] if worker is not None else "controller"
    if "collector" in sys.modules or "peewee" in sys.modules:
        open(f"{name}-loaded-the-collector", "w").close()
"""

EXPECTED = {
    "SHOP-1": "PASSED",
    "SHOP-2": "FAILED",
    "SHOP-3": "SKIPPED",
    "test_embedded_suite.py::test_unmapped": "PASSED",
}


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("QAHUB_URL", "QAHUB_TOKEN", "QAHUB_RUN", "QAHUB_DATABASE_URL", "QAHUB_STORAGE_DIR"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_embedded_suite=SUITE)
    pytester.makeconftest(WORKER_CHECK)
    return pytester


def qahub(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QAHUB_")}
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def statuses(server: CollectorServer, run_id: str) -> dict[str, str]:
    rows = server.results(run_id)
    assert len({r["test_case_code"] for r in rows}) == len(rows)
    return {r["test_case_code"]: r["status"] for r in rows}


@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "xdist"])
def test_results_land_in_the_local_database_and_qahub_reads_them(suite: pytest.Pytester, workers) -> None:
    args = ["-p", "no:cacheprovider", "--qahub-run=local-1"] + (["-n", workers] if workers else [])
    result = suite.runpytest_subprocess(*args, timeout=120)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*QAHub*",
            "run local-1 in .qahub/qahub.db (embedded collector)",
            "*see it: qahub results local-1*qahub serve*",
            "sent 4, rejected 0, waiting in journal 0*",
        ]
    )
    assert not list(suite.path.glob("*-loaded-the-collector"))
    assert (suite.path / ".qahub" / "qahub.db").is_file()

    table = qahub(suite.path, "results", "local-1")
    assert table.returncode == 0, table.stderr
    assert "4 results: 1 failed, 2 passed, 1 skipped" in table.stdout
    assert "test_embedded_suite.py::test_unmapped" in table.stdout

    server = CollectorServer(
        suite.path / "server", database_url=f"sqlite:///{suite.path / '.qahub' / 'qahub.db'}"
    )
    server.start()
    try:
        assert statuses(server, "local-1") == EXPECTED
        failed = next(r for r in server.results("local-1") if r["status"] == "FAILED")
        assert "[2]" in failed["error_message"]  # the failing parameter is named
    finally:
        server.stop()


def test_a_second_session_with_the_same_run_upserts(suite: pytest.Pytester) -> None:
    assert suite.runpytest_subprocess("--qahub-run=local-1").ret == pytest.ExitCode.TESTS_FAILED
    suite.makepyfile(test_embedded_suite=SUITE.replace("assert n == 1", "assert n > 0"))
    assert suite.runpytest_subprocess("--qahub-run=local-1").ret == pytest.ExitCode.OK
    table = qahub(suite.path, "results", "local-1").stdout
    assert "4 results: 3 passed, 1 skipped" in table


def test_replay_copies_local_results_to_a_remote_collector(
    suite: pytest.Pytester, collector_server: CollectorServer
) -> None:
    assert suite.runpytest_subprocess("--qahub-run=local-1").ret == pytest.ExitCode.TESTS_FAILED
    remote_run = collector_server.create_run("from-laptop")
    args = ("replay", "--url", collector_server.url, "--token", collector_server.token, "--run", remote_run)
    first = qahub(suite.path, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "copied 4" in first.stdout
    assert statuses(collector_server, remote_run) == EXPECTED
    again = qahub(suite.path, *args)  # copying twice changes nothing
    assert again.returncode == 0
    assert statuses(collector_server, remote_run) == EXPECTED
    # The local journal still says everything was delivered locally.
    assert "nothing to send" in qahub(suite.path, "replay").stdout


def test_qahub_serve_reads_the_local_results_with_a_new_token(suite: pytest.Pytester) -> None:
    assert suite.runpytest_subprocess("--qahub-run=local-1").ret == pytest.ExitCode.TESTS_FAILED
    token = qahub(suite.path, "token", "create", "--scopes", "read").stdout.strip()
    assert token.startswith("qh_")
    server = CollectorServer(
        suite.path / "srv", database_url=f"sqlite:///{suite.path / '.qahub' / 'qahub.db'}"
    )
    server.start()
    try:
        server.session.headers["Authorization"] = f"Bearer {token}"
        assert statuses(server, "local-1") == EXPECTED
    finally:
        server.stop()


def test_the_embedded_collector_runs_on_postgresql_too(suite: pytest.Pytester) -> None:
    """QAHUB_DATABASE_URL picks the embedded collector's database; PostgreSQL needs its driver."""
    with fresh_postgres() as url:
        env = {**os.environ, "QAHUB_DATABASE_URL": url}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--qahub-run=local-pg"],
            cwd=suite.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
        assert "sent 4, rejected 0, waiting in journal 0" in result.stdout, result.stdout
        table = subprocess.run(
            [sys.executable, "-m", "collector.cli", "results", "local-pg"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "4 results: 1 failed, 2 passed, 1 skipped" in table.stdout, table.stdout + table.stderr
        assert not (suite.path / ".qahub" / "qahub.db").exists()


SKIPS_DRIVERS = """
from pytest_qahub.delivery.process import Job, skip_postgres_drivers
skip_postgres_drivers(Job(run="r", url={url!r}, token=None, root=".", batch_size=1, flush_timeout=1))
import peewee
print(peewee.psycopg is None)
"""


@pytest.mark.parametrize(
    ("url", "database_url", "skipped"),
    [
        (None, None, True),
        (None, "sqlite:///elsewhere.db", True),
        (None, "postgresql://postgres@127.0.0.1/test", False),
        ("http://collector:8080", None, False),
    ],
    ids=["embedded-default", "embedded-sqlite", "embedded-postgresql", "http"],
)
def test_the_delivery_process_leaves_out_postgresql_drivers_only_for_an_embedded_sqlite(
    url: str | None, database_url: str | None, skipped: bool
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QAHUB_")}
    if database_url:
        env["QAHUB_DATABASE_URL"] = database_url
    code = SKIPS_DRIVERS.format(url=url)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == str(skipped), out.stderr
