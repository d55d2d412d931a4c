"""Throw-away databases for tests: a SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

PG_ENV = "QAHUB_TEST_DATABASE_URL"


def postgres_admin_url() -> str:
    """Return the test server's URL, or skip with the reason."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(
            f"{PG_ENV} is not set: PostgreSQL tests need a server (e.g. postgresql://postgres@127.0.0.1/test)"
        )
    return url


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """Create an empty database on the test server; drop it afterwards."""
    import psycopg

    admin = postgres_admin_url()
    name = f"qahub_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunparse(urlparse(admin)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database_url_for(kind: str, tmp_path: Path) -> Iterator[str]:
    """Yield a fresh database URL of ``kind`` ("sqlite" or "postgres")."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'qahub.db'}"
    else:
        with fresh_postgres() as url:
            yield url
