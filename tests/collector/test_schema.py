"""The schema is created and upgraded by the program, and the version is recorded."""

from __future__ import annotations

import pytest

from collector.config import Settings
from collector.db import open_database
from collector.models import SchemaVersion
from collector.schema import LATEST_VERSION, current_version, upgrade


def test_upgrade_creates_the_schema_once_and_records_the_version(database_url: str) -> None:
    db = open_database(Settings(database_url=database_url))
    assert upgrade(db) == 0
    assert upgrade(db) == LATEST_VERSION  # a second start changes nothing
    with db.connection_context():
        assert current_version(db) == LATEST_VERSION
        assert SchemaVersion.select().count() == 1
    db.close_all()  # PostgreSQL drops the test database only without open connections


def test_a_database_from_a_newer_collector_is_refused(sqlite_url: str) -> None:
    db = open_database(Settings(database_url=sqlite_url))
    upgrade(db)
    with db.connection_context():
        SchemaVersion.update(version=LATEST_VERSION + 1).execute()
    with pytest.raises(RuntimeError, match="newer than this collector"):
        upgrade(db)


def test_the_sqlite_database_runs_in_wal_mode_and_syncs_every_commit(sqlite_url: str, tmp_path) -> None:
    db = open_database(Settings(database_url=f"sqlite:///{tmp_path / 'deep' / 'dir' / 'q.db'}"))
    with db.connection_context():
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] > 0
