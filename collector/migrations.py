"""Creates and upgrades the database schema, recording the version it reached.

Each entry of :data:`MIGRATIONS` moves the schema one version up. Several collector processes
may start at once on one database: the upgrade runs under a lock (SQLite's write lock, a
PostgreSQL advisory lock), so exactly one of them applies each step.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee

from collector.config import Settings
from collector.db import is_sqlite, open_database, write_transaction
from collector.errors import DatabaseTooNew
from collector.models import ALL_MODELS, PendingDeletion, Project, Result, Run, SchemaVersion, WebSession

DEFAULT_PROJECT_KEY = "default"
_PG_LOCK_ID = 0x51A4B  # any constant shared by every collector process


def _v1_initial(db: peewee.Database) -> None:
    db.create_tables(ALL_MODELS, safe=True)
    Project.get_or_create(key=DEFAULT_PROJECT_KEY, defaults={"name": "Default project"})


def _v2_run_tags(db: peewee.Database) -> None:
    """Runs say where they come from: environment, branch, commit, build URL."""
    from playhouse.migrate import SchemaMigrator, migrate

    # A database created at v2 or later already has them (v1 creates today's tables).
    present = {column.name for column in db.get_columns(Run._meta.table_name)}
    migrator = SchemaMigrator.from_database(db)
    migrate(
        *(
            migrator.add_column(Run._meta.table_name, field.column_name, field)
            for field in (Run.environment, Run.branch, Run.commit, Run.build_url)
            if field.column_name not in present
        )
    )


def _v3_pending_deletions(db: peewee.Database) -> None:
    """Files to remove from storage after their rows are gone, retried until they are."""
    db.create_tables([PendingDeletion], safe=True)


#: ``(name, table, columns, condition)`` of the indexes the questions across runs need.
HISTORY_INDEXES = (
    # A case's results, newest first (its history, the case page): no sort, no scan.
    ("result_case_history", Result._meta.table_name, ("test_case_id", "executed_at", "id"), None),
    # The runs of one branch and environment, newest first (the base run, flaky evidence).
    ("run_series", Run._meta.table_name, ("project_id", "branch", "environment", "created_at", "id"), None),
    # The few results with a comment (a rerun's "passed on attempt 2 of 3"): flaky evidence
    # without reading every passed result of the runs considered.
    ("result_commented", Result._meta.table_name, ("run_id", "status"), '"comment" IS NOT NULL'),
)


def _v4_history_indexes(db: peewee.Database) -> None:
    """Indexes for a case's history, the runs of a branch and the results with a comment."""
    for name, table, columns, condition in HISTORY_INDEXES:
        quoted = ", ".join(f'"{column}"' for column in columns)
        where = f" WHERE {condition}" if condition else ""
        db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ({quoted}){where}')


def _v5_web_sessions(db: peewee.Database) -> None:
    """Web sessions live on the server, so signing out ends them."""
    db.create_tables([WebSession], safe=True)


#: Indexes whose column leads another index of the same table (peewee's default for a foreign key).
REDUNDANT_INDEXES = ("result_run_id", "result_test_case_id")


def _v6_no_redundant_indexes(db: peewee.Database) -> None:
    """Drop the result table's indexes on ``run_id`` and on ``test_case_id`` alone: the unique
    (run, case) index and the case's history index lead with those columns and serve the same
    look-ups and cascades, and every new result paid for writing two more indexes."""
    for name in REDUNDANT_INDEXES:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')


MIGRATIONS: list[Callable[[peewee.Database], None]] = [
    _v1_initial,
    _v2_run_tags,
    _v3_pending_deletions,
    _v4_history_indexes,
    _v5_web_sessions,
    _v6_no_redundant_indexes,
]
LATEST_VERSION = len(MIGRATIONS)


def current_version(db: peewee.Database) -> int:
    """Return the recorded schema version (0 for an empty database)."""
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    row = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
    return int(row or 0)


def upgrade(db: peewee.Database) -> int:
    """Bring the schema to :data:`LATEST_VERSION`; return the version it started from."""
    with db.connection_context(), write_transaction(db):
        if not is_sqlite(db):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_ID,))
        db.create_tables([SchemaVersion], safe=True)
        start = current_version(db)
        if start > LATEST_VERSION:
            raise DatabaseTooNew(
                f"The database is at schema version {start}, newer than this collector "
                f"({LATEST_VERSION}); upgrade pytest-qahub."
            )
        for version in range(start + 1, LATEST_VERSION + 1):
            MIGRATIONS[version - 1](db)
            SchemaVersion.delete().execute()
            SchemaVersion.create(version=version)
    return start


def open_upgraded(settings: Settings) -> peewee.Database:
    """Open the database ``settings`` name with its schema at :data:`LATEST_VERSION`."""
    db = open_database(settings)
    try:
        upgrade(db)
    except BaseException:
        db.close_all()  # leave no connection open behind the error
        raise
    return db
