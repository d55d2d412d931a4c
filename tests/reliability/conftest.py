"""Fixtures for the reliability tests: real collectors on SQLite and PostgreSQL, and their rows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.databases import database_url_for
from tests.support.server import CollectorServer, qahub

ServerFactory = Callable[..., CollectorServer]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database, once on SQLite and once on PostgreSQL."""
    with database_url_for(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start ``qahub serve`` processes of the test's own; every one is killed at the end."""
    with ExitStack() as stack:

        def start(name: str = "collector", database_url: str | None = None, **env: str) -> CollectorServer:
            server = CollectorServer(tmp_path / name, database_url=database_url, extra_env=env)
            server.start()
            stack.callback(server.stop, kill=True)
            return server

        yield start


def rows_by_code(server: CollectorServer, run_id: str) -> dict[str, dict]:
    """A run's rows by test case code, asserting there is exactly one row per code."""
    rows = server.results(run_id)
    by_code = {row["test_case_code"]: row for row in rows}
    assert len(by_code) == len(rows), f"{len(rows) - len(by_code)} duplicate rows"
    return by_code


def make_codes(server: CollectorServer, prefix: str, count: int) -> list[str]:
    """Create ``count`` test cases named ``{prefix}-000``… (through the CLI: no rate limit)."""
    codes = [f"{prefix}-{n:03d}" for n in range(count)]
    listing = server.workdir / f"{prefix}-cases.json"
    listing.write_text(json.dumps([{"code": code, "title": f"case {code}"} for code in codes]))
    qahub(server.env, "case", "import", str(listing))
    return codes
