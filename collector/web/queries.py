"""What the web pages show, read in a small, fixed number of queries per page.

A page of runs takes two queries (the runs, then one ``GROUP BY`` for all their counts); a page
of a run's results takes at most four (counts, matching total when searching, the rows, their
attachments), however large the run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import peewee

from collector.models import RESULT_STATUSES, Attachment, Project, Result, Run, TestCase
from collector.runs import list_runs

#: Failed and broken first: they are what a reader came for.
STATUS_ORDER = ("FAILED", "BROKEN", "UNKNOWN", "PASSED", "SKIPPED")
RUNS_PER_PAGE = 25
RESULTS_PER_PAGE = 200
EXPANDING = frozenset({"FAILED", "BROKEN"})
_RANK = peewee.Case(Result.status, [(s, i) for i, s in enumerate(STATUS_ORDER)], len(STATUS_ORDER))


@dataclass(frozen=True)
class Segment:
    """One status's share of the stacked bar, in percent of its width."""

    status: str
    count: int
    x: float
    width: float


@dataclass(frozen=True)
class Counts:
    """How many results a run has of each status."""

    by_status: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def __getitem__(self, status: str) -> int:
        return self.by_status.get(status, 0)

    @property
    def pass_rate(self) -> float | None:
        """Passed out of everything that ran (skipped tests did not run); ``None`` if none ran."""
        ran = self.total - self["SKIPPED"]
        return None if ran <= 0 else 100.0 * self["PASSED"] / ran

    def segments(self) -> list[Segment]:
        """Return the bar's parts in the fixed order PASSED, FAILED, BROKEN, SKIPPED, UNKNOWN."""
        total, x, parts = self.total, 0.0, []
        for status in RESULT_STATUSES:
            if total and self[status]:
                width = 100.0 * self[status] / total
                parts.append(Segment(status, self[status], x, width))
                x += width
        return parts


def status_counts(run_ids: list[str]) -> dict[str, Counts]:
    """Count the results of each run by status, for all the runs in one query."""
    found: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
    if run_ids:
        query = (
            Result.select(Result.run, Result.status, peewee.fn.COUNT(Result.id))
            .where(Result.run.in_(run_ids))
            .group_by(Result.run, Result.status)
            .tuples()
        )
        for run_id, status, count in query:
            found[run_id][status] = count
    return {run_id: Counts(by_status) for run_id, by_status in found.items()}


def runs_page(project: Project, page: int) -> tuple[list[Run], int, dict[str, Counts]]:
    """Return one page of the project's runs (newest first), how many runs there are, their counts."""
    runs, total = list_runs(project, RUNS_PER_PAGE, (page - 1) * RUNS_PER_PAGE)
    return runs, total, status_counts([r.id for r in runs])


@dataclass(frozen=True)
class ResultFilter:
    """The result table's query: one status or all, a search in code and title, a page number."""

    status: str | None = None
    search: str = ""
    page: int = 1

    def condition(self, run: Run) -> peewee.Expression:
        where = Result.run == run.id
        if self.status:
            where &= Result.status == self.status
        if self.search:  # ILIKE on PostgreSQL, LIKE (case-blind for ASCII) on SQLite; wildcards escaped
            where &= TestCase.code.contains(self.search) | TestCase.title.contains(self.search)
        return where


def results_page(run: Run, chosen: ResultFilter, counts: Counts) -> tuple[list[Result], int]:
    """Return one page of a run's results (failed and broken first) and how many match in all."""
    if chosen.search:
        matching = Result.select().join(TestCase).where(chosen.condition(run)).count()
    elif chosen.status:
        matching = counts[chosen.status]
    else:
        matching = counts.total
    rows = (
        Result.select(Result, TestCase.code, TestCase.title)
        .join(TestCase)
        .where(chosen.condition(run))
        .order_by(_RANK, TestCase.code, Result.id)
        .limit(RESULTS_PER_PAGE)
        .offset((chosen.page - 1) * RESULTS_PER_PAGE)
    )
    return list(rows), matching


def attachments_of(results: list[Result]) -> dict[str, list[Attachment]]:
    """Return the attachments of the given results (oldest first), in one query."""
    found: dict[str, list[Attachment]] = defaultdict(list)
    ids = [r.id for r in results]
    if ids:
        query = Attachment.select().where(Attachment.result.in_(ids))
        for attachment in query.order_by(Attachment.created_at, Attachment.id):
            found[attachment.result_id].append(attachment)
    return found
