"""The schema is created and upgraded by the program, and the version is recorded."""

from __future__ import annotations

import pytest

from collector.config import Settings
from collector.db import open_database
from collector.errors import DatabaseTooNew
from collector.migrations import HISTORY_INDEXES, LATEST_VERSION, REDUNDANT_INDEXES, current_version, upgrade
from collector.models import ALL_MODELS, Project, Run, SchemaVersion


def test_upgrade_creates_the_schema_once_and_records_the_version(database_url: str) -> None:
    db = open_database(Settings(database_url=database_url))
    assert upgrade(db) == 0
    assert upgrade(db) == LATEST_VERSION  # a second start changes nothing
    with db.connection_context():
        assert current_version(db) == LATEST_VERSION
        assert SchemaVersion.select().count() == 1
    db.close_all()  # PostgreSQL drops the test database only without open connections


def test_a_version_1_database_gains_the_run_tags_and_keeps_its_runs(database_url: str) -> None:
    db = open_database(Settings(database_url=database_url))
    with db.connection_context():
        db.create_tables([SchemaVersion, *ALL_MODELS])  # today's tables, then back to version 1
        db.execute_sql(f'ALTER TABLE "{Run._meta.table_name}" DROP COLUMN "commit_sha"')
        db.execute_sql(f'ALTER TABLE "{Run._meta.table_name}" DROP COLUMN "branch"')
        project = Project.create(key="default", name="Default project")
        columns = '"id", "project_id", "name", "status", "created_at", "updated_at"'
        values = ", ".join([db.param] * 6)
        db.execute_sql(
            f'INSERT INTO "{Run._meta.table_name}" ({columns}) VALUES ({values})',
            ("old", project.id, "n", "PENDING", "2026-01-01 00:00:00", "2026-01-01 00:00:00"),
        )
        SchemaVersion.create(version=1)
    assert upgrade(db) == 1
    with db.connection_context():
        run = Run.get_by_id("old")
        assert (run.name, run.branch, run.commit) == ("n", None, None)
        Run.update(branch="main", commit="abc").where(Run.id == "old").execute()
        assert Run.get_by_id("old").commit == "abc"
    db.close_all()


def test_a_database_from_a_newer_collector_is_refused(sqlite_url: str) -> None:
    db = open_database(Settings(database_url=sqlite_url))
    upgrade(db)
    with db.connection_context():
        SchemaVersion.update(version=LATEST_VERSION + 1).execute()
    with pytest.raises(DatabaseTooNew, match="newer than this collector"):
        upgrade(db)


def test_the_sqlite_database_runs_in_wal_mode_and_syncs_every_commit(sqlite_url: str, tmp_path) -> None:
    db = open_database(Settings(database_url=f"sqlite:///{tmp_path / 'deep' / 'dir' / 'q.db'}"))
    with db.connection_context():
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] > 0


def test_a_version_2_database_gains_the_indexes_of_the_questions_across_runs(database_url: str) -> None:
    db = open_database(Settings(database_url=database_url))
    upgrade(db)
    with db.connection_context():
        for name, *_ in HISTORY_INDEXES:
            db.execute_sql(f'DROP INDEX "{name}"')
        SchemaVersion.update(version=2).execute()

    assert upgrade(db) == 2
    with db.connection_context():
        present = {index.name for table in ("result", "run") for index in db.get_indexes(table)}
        assert {name for name, *_ in HISTORY_INDEXES} <= present
        assert current_version(db) == LATEST_VERSION
    db.close_all()


def test_a_version_5_database_loses_the_indexes_other_indexes_lead_with(database_url: str) -> None:
    db = open_database(Settings(database_url=database_url))
    upgrade(db)
    with db.connection_context():
        made = {index.name for index in db.get_indexes("result")}
        assert not made & set(REDUNDANT_INDEXES)  # a new database never has them
        db.execute_sql('CREATE INDEX "result_run_id" ON "result" ("run_id")')
        db.execute_sql('CREATE INDEX "result_test_case_id" ON "result" ("test_case_id")')
        SchemaVersion.update(version=5).execute()

    assert upgrade(db) == 5
    with db.connection_context():
        indexes = {index.name: index.columns for index in db.get_indexes("result")}
        assert not set(indexes) & set(REDUNDANT_INDEXES)
        # What they served, other indexes still lead with: a run's results, a case's results.
        assert indexes["result_run_id_test_case_id"][0] == "run_id"
        assert indexes["result_case_history"][0] == "test_case_id"
        assert current_version(db) == LATEST_VERSION
    db.close_all()
