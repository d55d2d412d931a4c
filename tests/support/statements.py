"""Collect the SQL statements peewee runs, for tests and benchmarks that count or explain them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def statements() -> Iterator[list[tuple[str, tuple]]]:
    """Collect the SQL statements (with their parameters) peewee runs meanwhile."""
    found: list[tuple[str, tuple]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # Only peewee's own statements, not peewee.pool's connection bookkeeping.
            if record.name == "peewee" and isinstance(record.msg, tuple):
                found.append(record.msg)

    logger = logging.getLogger("peewee")
    handler, level = Collect(logging.DEBUG), logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
