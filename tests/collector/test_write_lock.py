"""SQLite's write lock within one process: writers queue on it before SQLite's own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from collector.config import Settings
from collector.db import LockingSqliteDatabase, open_database, write_transaction


def sqlite(tmp_path: Path, timeout_s: float) -> LockingSqliteDatabase:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'q.db'}", sqlite_busy_timeout_s=timeout_s)
    db = open_database(settings)
    with db.connection_context():
        db.execute_sql("CREATE TABLE t (v INTEGER)")
    return db


@pytest.fixture
def db(tmp_path: Path) -> Iterator[LockingSqliteDatabase]:
    db = sqlite(tmp_path, 5)
    yield db
    db.close_all()


def values(db: peewee.Database) -> list[int]:
    with db.connection_context():
        return sorted(v for (v,) in db.execute_sql("SELECT v FROM t").fetchall())


def insert_in_thread(db: peewee.Database, value: int) -> tuple[list, threading.Thread]:
    """Insert ``value`` in a write transaction of another thread; the list gets its error, if any."""
    errors: list = []

    def run() -> None:
        with db.connection_context():
            try:
                with write_transaction(db):
                    db.execute_sql("INSERT INTO t VALUES (?)", (value,))
            except peewee.OperationalError as ex:
                errors.append(ex)

    thread = threading.Thread(target=run)
    thread.start()
    return errors, thread


def test_a_writer_of_the_process_waits_for_the_lock_then_writes(db: LockingSqliteDatabase) -> None:
    with db.connection_context(), write_transaction(db):
        errors, thread = insert_in_thread(db, 2)
        db.execute_sql("INSERT INTO t VALUES (1)")
        assert thread.is_alive()  # it waits on the lock, not on SQLite, until this commits
    thread.join()
    assert errors == []
    assert values(db) == [1, 2]


def test_a_writer_that_waits_past_the_busy_timeout_is_refused(tmp_path: Path) -> None:
    db = sqlite(tmp_path, 0.2)
    with db.connection_context(), write_transaction(db):
        errors, thread = insert_in_thread(db, 1)
        thread.join()  # the lock is held throughout
    assert [str(ex) for ex in errors] == ["database is locked"]
    assert values(db) == []
    db.close_all()


def test_a_thread_can_nest_its_write_transactions(db: LockingSqliteDatabase) -> None:
    with db.connection_context(), write_transaction(db):
        db.execute_sql("INSERT INTO t VALUES (1)")
        with write_transaction(db):  # a savepoint under the same lock
            db.execute_sql("INSERT INTO t VALUES (2)")
    assert values(db) == [1, 2]
    errors, thread = insert_in_thread(db, 3)  # and the lock is free again
    thread.join()
    assert errors == [] and values(db) == [1, 2, 3]
