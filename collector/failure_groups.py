"""Failure groups: a run's failures whose error messages are the same once the values in them are masked.

Two hundred failures are often one problem: the same ``TimeoutError`` with a different number of
milliseconds, the same ``KeyError`` on a different id. `pattern` masks what varies from one
failure to the next, in this order:

- timestamps (``2026-05-13T12:00:00Z``) → ``<time>``
- quoted values (``'…'``, ``"…"``) → ``'<…>'`` / ``"<…>"``
- UUIDs → ``<uuid>``; addresses (``0x7f3a…``) → ``<addr>``
- hex ids of 7 or more digits and letters (commit hashes, digests) → ``<hex>``
- other ids of 10 or more letters and digits mixed (cuid-, nanoid-like) → ``<id>``
- numbers not glued to a word (``30000ms`` yes, ``http2`` no) → ``<n>``
- runs of white space → one space

Failures (FAILED or BROKEN) with the same pattern are one group; failures without a message
are one group of their own (pattern ``None``).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass

from collector import responses
from collector.db import database
from collector.models import FAILING_STATUSES, Result, Run, TestCase

#: The part of a message that is compared: enough for any real one, bounded for a huge one.
MESSAGE_CHARS = 4000

_MASKS = [
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"'(?:[^'\\\n]|\\.)*'"), "'<…>'"),
    (re.compile(r'"(?:[^"\\\n]|\\.)*"'), '"<…>"'),
    (re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<addr>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{7,}\b"), "<hex>"),
    (re.compile(r"\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{10,}\b"), "<id>"),
    (re.compile(r"(?<![A-Za-z_.\d])\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
]


# Failures of one cause repeat one message: a run page of 10,000 failures masks each text once.
@functools.lru_cache(maxsize=8192)
def pattern(message: str | None) -> str | None:
    """Mask what varies in an error message; ``None`` for a failure without one."""
    text = (message or "")[:MESSAGE_CHARS]
    for mask, placeholder in _MASKS:
        text = mask.sub(placeholder, text)
    return text.strip() or None


@dataclass(frozen=True)
class Failure:
    """One failed or broken result of the run."""

    result_id: str
    test_case_id: str
    code: str
    title: str
    status: str
    error_message: str | None


@dataclass(frozen=True)
class FailureGroup:
    """The failures that share a pattern, by code."""

    pattern: str | None
    failures: tuple[Failure, ...]

    @property
    def count(self) -> int:
        return len(self.failures)

    def as_response(self) -> responses.FailureGroup:
        """The group as the API answers it."""
        statuses: dict[str, int] = defaultdict(int)
        for failure in self.failures:
            statuses[failure.status] += 1
        return responses.FailureGroup(
            pattern=self.pattern,
            count=self.count,
            codes=[f.code for f in self.failures],
            statuses=statuses,
            example=self.failures[0].error_message,
        )


def failures(run: Run) -> list[Failure]:
    """Read the run's failed and broken results (one query; the first `MESSAGE_CHARS` of each message)."""
    param = database.param
    marks = ", ".join([param] * len(FAILING_STATUSES))
    results, cases = Result._meta.table_name, TestCase._meta.table_name
    sql = (
        f'SELECT r."id", r."test_case_id", c."code", c."title", r."status", '
        f'SUBSTR(r."error_message", 1, {MESSAGE_CHARS}) '
        f'FROM "{results}" r JOIN "{cases}" c ON c."id" = r."test_case_id" '
        f'WHERE r."run_id" = {param} AND r."status" IN ({marks}) ORDER BY c."code"'
    )
    return [Failure(*row) for row in database.execute_sql(sql, (run.id, *FAILING_STATUSES))]


def failure_groups(run: Run) -> list[FailureGroup]:
    """Group the run's failures by `pattern`: the biggest group first, then by pattern."""
    grouped: dict[str | None, list[Failure]] = defaultdict(list)
    for failure in failures(run):
        grouped[pattern(failure.error_message)].append(failure)
    groups = [FailureGroup(key, tuple(members)) for key, members in grouped.items()]
    return sorted(groups, key=lambda g: (-g.count, g.pattern is None, g.pattern or ""))
