"""Creates and upgrades the database schema, recording the version it reached.

Each entry of :data:`MIGRATIONS` moves the schema one version up. Several collector processes
may start at once on one database: the upgrade runs under a lock (SQLite's write lock, a
PostgreSQL advisory lock), so exactly one of them applies each step.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee

from collector.db import is_sqlite, write_transaction
from collector.models import ALL_MODELS, Project, SchemaVersion, WebSession

DEFAULT_PROJECT_KEY = "default"
_PG_LOCK_ID = 0x51A4B  # any constant shared by every collector process


def _v1_initial(db: peewee.Database) -> None:
    db.create_tables(ALL_MODELS, safe=True)
    Project.get_or_create(key=DEFAULT_PROJECT_KEY, defaults={"name": "Default project"})


def _v2_web_sessions(db: peewee.Database) -> None:
    db.create_tables([WebSession], safe=True)


MIGRATIONS: list[Callable[[peewee.Database], None]] = [_v1_initial, _v2_web_sessions]
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
            raise RuntimeError(
                f"The database is at schema version {start}, newer than this collector "
                f"({LATEST_VERSION}); upgrade pytest-qahub."
            )
        for version in range(start + 1, LATEST_VERSION + 1):
            MIGRATIONS[version - 1](db)
            SchemaVersion.delete().execute()
            SchemaVersion.create(version=version)
    return start
