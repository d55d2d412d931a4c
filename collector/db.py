"""Database connection: one code path for SQLite and PostgreSQL through ``playhouse.db_url``."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect
from playhouse.pool import MaxConnectionsExceeded, PooledSqliteDatabase

from collector.config import Settings
from collector.errors import DatabaseURLError
from collector.storage import make_private_dirs

database = peewee.DatabaseProxy()
#: What a locked, overloaded or unreachable database raises: worth another try later (a 503).
UNAVAILABLE = (peewee.OperationalError, MaxConnectionsExceeded)


def _sqlite_path(url: str) -> str:
    path = url.split("://", 1)[1]
    if path.startswith("/"):
        path = path[1:]  # sqlite:///rel/path -> rel/path, sqlite:////abs -> /abs
    return path


def _create_private_file(path: Path) -> None:
    """Create a missing database file, and its folders, readable by this user only.

    Results hold error messages and stack traces, which can hold secrets. SQLite gives its
    ``-wal`` and ``-shm`` files the database file's permissions. An existing file stays as it is.
    """
    make_private_dirs(path.resolve().parent)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _null(value: None) -> None:
    return None


def _bind_none_at_once() -> None:
    """Have ``sqlite3`` bind None without looking for a way to adapt it.

    It binds str and int as they are, but takes any other value, None included, as an object
    to adapt: a look-up in its registry, then two attribute look-ups that fail with an
    exception (``__adapt__``, ``__conform__``). A result's row holds five NULLs or so; an
    adapter registered for None answers at the first look-up (2.6 → 1.6 µs per such row).
    """
    sqlite3.register_adapter(type(None), _null)


class LockingSqliteDatabase(PooledSqliteDatabase):
    """SQLite with a write lock of this process, taken before SQLite's own.

    Writers of one process queue on it, and the next starts the moment the last commits:
    waiting in SQLite's busy handler instead means sleeping between looks (up to 100 ms
    apart) while the lock stands free. Writers of other processes still meet SQLite's lock.
    """

    def __init__(self, *args, busy_timeout_s: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.busy_timeout_s = busy_timeout_s
        self.write_lock = threading.RLock()


def open_database(settings: Settings) -> peewee.Database:
    """Open (lazily) the database named by ``settings.database_url`` and bind the models to it."""
    url = settings.database_url
    scheme = urlparse(url).scheme
    if scheme.startswith("sqlite"):
        path = _sqlite_path(url)
        if not path or path == ":memory:":
            raise DatabaseURLError(f"QAHUB_DATABASE_URL {url!r}: give a file path")
        _create_private_file(Path(path).expanduser())
        _bind_none_at_once()
        db = LockingSqliteDatabase(
            str(Path(path).expanduser()),
            busy_timeout_s=settings.sqlite_busy_timeout_s,
            max_connections=settings.db_pool_size,
            stale_timeout=300,
            timeout=settings.sqlite_busy_timeout_s,
            pragmas={
                "journal_mode": "wal",
                # FULL: a commit is on disk before the client hears it was accepted, as on
                # PostgreSQL; the plugin marks a result delivered on that answer and never
                # sends it again. NORMAL could lose the last commits to a power cut.
                "synchronous": "full",
                "foreign_keys": 1,
                "busy_timeout": int(settings.sqlite_busy_timeout_s * 1000),
            },
            check_same_thread=False,
        )
    elif scheme in ("postgres", "postgresql", "psycopg3"):
        pooled = f"postgresql+pool://{url.split('://', 1)[1]}"
        db = connect(pooled, max_connections=settings.db_pool_size, stale_timeout=300, timeout=30)
    elif scheme.endswith("+pool") and scheme.split("+")[0] in ("postgres", "postgresql"):
        db = connect(url, max_connections=settings.db_pool_size, stale_timeout=300, timeout=30)
    else:
        raise DatabaseURLError(
            f"QAHUB_DATABASE_URL {url!r}: use sqlite:///path/to/file.db or postgresql://user@host/db"
        )
    database.initialize(db)
    return db


def is_sqlite(db: peewee.Database) -> bool:
    """Tell whether ``db`` is SQLite (which needs explicit write locks)."""
    target = db.obj if isinstance(db, peewee.DatabaseProxy) else db
    return isinstance(target, peewee.SqliteDatabase)


@contextmanager
def write_transaction(db: peewee.Database | None = None) -> Iterator[None]:
    """Open a transaction that will write.

    On SQLite it takes the write lock up front (``BEGIN IMMEDIATE``) so two writers queue on
    the busy timeout instead of failing with "database is locked" when upgrading a read lock;
    writers of this process queue first on `LockingSqliteDatabase`'s lock, as long at most.
    """
    db = db or database
    target = db.obj if isinstance(db, peewee.DatabaseProxy) else db
    if not isinstance(target, peewee.SqliteDatabase):
        with target.atomic():
            yield
        return
    lock = getattr(target, "write_lock", None)
    if lock is None:
        with target.atomic("IMMEDIATE"):
            yield
        return
    if not lock.acquire(timeout=target.busy_timeout_s):
        raise peewee.OperationalError("database is locked")
    try:
        with target.atomic("IMMEDIATE"):
            yield
    finally:
        lock.release()
