"""What the web pages show, read in a small, fixed number of queries per page.

A page of runs takes two queries (the runs, then one ``GROUP BY`` for all their counts); a page
of a run's results takes at most four (counts, matching total when searching, the rows, their
attachments) plus the comparison with its base and its failure groups, however large the run.
A case's page takes six, the flaky page three.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import peewee

from collector import flaky, responses
from collector.compare import Comparison
from collector.history import case_history, latest_failure
from collector.models import FAILING_STATUSES, Attachment, Project, Result, Run, TestCase
from collector.runs import list_runs
from qahub_contract import PASSED, RESULT_STATUSES, SKIPPED, UNKNOWN

_FIRST = (*FAILING_STATUSES, UNKNOWN)
#: Failed and broken first: they are what a reader came for; then what is unclear, then the rest.
STATUS_ORDER = (*_FIRST, *(status for status in RESULT_STATUSES if status not in _FIRST))
RUNS_PER_PAGE = 25
RESULTS_PER_PAGE = 200
EXPANDING = frozenset(FAILING_STATUSES)
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
        ran = self.total - self[SKIPPED]
        return None if ran <= 0 else 100.0 * self[PASSED] / ran

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
    """The result table's query: one status or all, new failures only, a search, a page number.

    ``new_against`` is the base run's id when only new failures are wanted.
    """

    status: str | None = None
    search: str = ""
    page: int = 1
    new_against: str | None = None

    def condition(self, run: Run) -> peewee.Expression:
        where = Result.run == run.id
        if self.status:
            where &= Result.status == self.status
        if self.search:  # ILIKE on PostgreSQL, LIKE (case-blind for ASCII) on SQLite; wildcards escaped
            where &= TestCase.code.contains(self.search) | TestCase.title.contains(self.search)
        if self.new_against:  # failing now, and not failing in the base (the comparison's rule)
            base = Result.alias("base")
            failed_before = base.select(base.id).where(
                (base.run == self.new_against)
                & (base.test_case == Result.test_case)
                & base.status.in_(FAILING_STATUSES)
            )
            where &= Result.status.in_(FAILING_STATUSES) & ~peewee.fn.EXISTS(failed_before)
        return where


def results_page(run: Run, chosen: ResultFilter, counts: Counts) -> tuple[list[Result], int]:
    """Return one page of a run's results (failed and broken first) and how many match in all."""
    if chosen.search or chosen.new_against:
        matching = Result.select().join(TestCase).where(chosen.condition(run)).count()
    elif chosen.status:
        matching = counts[chosen.status]
    else:
        matching = counts.total
    rows = (
        Result.select(Result, TestCase.id, TestCase.code, TestCase.title)
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


@dataclass(frozen=True)
class Mark:
    """A badge beside a result: what the comparison with the base says about it."""

    kind: str  # new, fixed or flaky
    label: str
    detail: str


def marks_of(comparison: Comparison) -> dict[str, list[Mark]]:
    """Return the badges of each case of the run (by case id): New failure, Fixed, Flaky."""
    found: dict[str, list[Mark]] = defaultdict(list)
    base = "" if comparison.base is None else (comparison.base.name or comparison.base.id)
    for change in comparison.new_failures:
        before = change.base_status or "not run"
        found[change.test_case_id].append(Mark("new", "New failure", f"{before} in {base}"))
    for change in comparison.fixed:
        found[change.test_case_id].append(Mark("fixed", "Fixed", f"{change.base_status} in {base}"))
    for case_id, verdict in comparison.flaky.items():
        found[case_id].append(Mark("flaky", "Flaky", "; ".join(verdict.reasons())))
    return found


@dataclass(frozen=True)
class CaseOverview:
    """A case's page: its last results (oldest first), the flaky verdict and its latest failure."""

    case: TestCase
    recent: list[responses.HistoryResult]
    verdict: flaky.Verdict | None
    scope: flaky.Scope
    runs_considered: int
    latest_failure: responses.HistoryResult | None


CASE_STRIP = 50


def case_overview(project: Project, case: TestCase) -> CaseOverview:
    """Read what a case's page shows: five queries, however long its history."""
    recent, _ = case_history(case, CASE_STRIP, 0)
    scope = flaky.Scope()  # what the flaky page shows by default, so the two agree
    runs = flaky.scope_runs(project, scope)
    verdict = flaky.verdicts(runs, test_case_id=case.id).get(case.id)
    return CaseOverview(case, recent[::-1], verdict, scope, len(runs), latest_failure(case))


FLAKY_PER_PAGE = 50


def titles_of(case_ids: list[str]) -> dict[str, str]:
    """Return the title of each case (one query)."""
    if not case_ids:
        return {}
    return dict(TestCase.select(TestCase.id, TestCase.title).where(TestCase.id.in_(case_ids)).tuples())
