"""Flaky tests: the rule that calls a test case flaky, and the evidence for it in a project's runs.

Within the runs considered (a `Scope`: the last N runs of the project, of a branch, …), PASSED
counts as passing, FAILED and BROKEN as failing, and SKIPPED and UNKNOWN say nothing. A case is
flaky when it

1. passed in one run and failed in another on the same commit and environment, or
2. flipped between passing and failing at least twice, in run order, within one series of runs
   (one branch and environment), or
3. passed on a rerun within a run (pytest-rerunfailures; the plugin's comment says
   "passed on attempt 2 of 3").

A case that broke once and stayed broken, or was fixed once, flipped once: that is a change,
not flakiness. `judge` applies the rule to one case's outcomes without a database; `verdicts`
reads the outcomes of the runs considered in one query and judges every case in them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from collector import responses
from collector.db import database
from collector.errors import BadRequest
from collector.models import FAILING_STATUSES, Project, Result, Run, TestCase
from collector.runs import created_up_to, same_tag
from qahub_contract import PASSED

DEFAULT_WINDOW = 20
MAX_WINDOW = 200
#: What the plugin adds to the comment of a result that passed on a rerun ("passed on attempt 2
#: of 3", see pytest_qahub/capture.py); LIKE is case-blind on SQLite, so the text is matched as written.
RERUN_PASS = "passed on attempt "
_JUDGED = (PASSED, *FAILING_STATUSES)


def check_window(window: int) -> int:
    """Return ``window`` if it is a number of runs the evidence may be read from."""
    if not 2 <= window <= MAX_WINDOW:
        raise BadRequest(f"window must be between 2 and {MAX_WINDOW} runs")
    return window


@dataclass(frozen=True)
class RunInfo:
    """A run considered, as the rule needs it: its series, its commit, its place in time."""

    id: str
    name: str
    branch: str | None
    environment: str | None
    commit: str | None
    created_at: dt.datetime

    @property
    def series(self) -> tuple[str | None, str | None]:
        return (self.branch, self.environment)


@dataclass(frozen=True)
class Outcome:
    """One result of a case in a run considered: failing or passing, and whether a rerun passed it."""

    run: RunInfo
    failed: bool
    passed_on_rerun: bool = False


@dataclass(frozen=True)
class SeriesFlips:
    """How often a case flipped within one series of runs (one branch and environment)."""

    branch: str | None
    environment: str | None
    flips: int
    runs: int


@dataclass(frozen=True)
class CommitConflict:
    """A commit (in one environment) on which a case both passed and failed."""

    commit: str
    environment: str | None
    passed: int
    failed: int


def _times(count: int) -> str:
    return "once" if count == 1 else "twice" if count == 2 else f"{count} times"


def _commit(conflict: CommitConflict) -> str:
    where = f" in environment {conflict.environment}" if conflict.environment is not None else ""
    return conflict.commit[:12] + where


def series_label(branch: str | None, environment: str | None) -> str:
    """Name a series of runs for a person: ``branch main, environment staging``."""
    label = f"branch {branch}" if branch is not None else "no branch"
    return label + (f", environment {environment}" if environment is not None else "")


@dataclass(frozen=True)
class Verdict:
    """What the runs considered say about one case: its counts and each piece of flakiness evidence."""

    test_case_id: str
    code: str
    passed: int
    failed: int
    flips: tuple[SeriesFlips, ...]  # only the series where it flipped at least twice
    same_commit: tuple[CommitConflict, ...]
    passed_on_rerun: int
    last_failed: bool

    @property
    def flaky(self) -> bool:
        return bool(self.flips or self.same_commit or self.passed_on_rerun)

    @property
    def score(self) -> int:
        """How much evidence there is: flips, plus commits it passed and failed on, plus rerun passes."""
        return sum(s.flips for s in self.flips) + len(self.same_commit) + self.passed_on_rerun

    def reasons(self) -> list[str]:
        """The evidence, one sentence each."""
        found = [
            f"flipped {_times(s.flips)} between passing and failing in {s.runs} runs "
            f"of {series_label(s.branch, s.environment)}"
            for s in self.flips
        ]
        if len(self.same_commit) == 1:
            (c,) = self.same_commit
            found.append(f"passed {_times(c.passed)} and failed {_times(c.failed)} on commit {_commit(c)}")
        elif self.same_commit:
            first = self.same_commit[:3]
            shown = ", ".join(f"{_commit(c)} ({c.passed} passed, {c.failed} failed)" for c in first)
            more = len(self.same_commit) - 3
            found.append(
                f"passed and failed on the same commit, on {len(self.same_commit)} commits: {shown}"
                + (f" and {more} more" if more > 0 else "")
            )
        if self.passed_on_rerun:
            runs = "1 run" if self.passed_on_rerun == 1 else f"{self.passed_on_rerun} runs"
            found.append(f"failed, then passed on a rerun, in {runs}")
        return found

    def as_response(self) -> responses.FlakyCase:
        """The verdict as the API answers it."""
        return responses.FlakyCase(
            test_case_id=self.test_case_id,
            test_case_code=self.code,
            score=self.score,
            passed=self.passed,
            failed=self.failed,
            last_status="failing" if self.last_failed else "passing",
            evidence=responses.FlakyEvidence(
                flips=self.flips, same_commit=self.same_commit, passed_on_rerun=self.passed_on_rerun
            ),
            reasons=self.reasons(),
        )


def judge(test_case_id: str, code: str, outcomes: Iterable[Outcome]) -> Verdict:
    """Apply the flaky rule to one case's outcomes (in any order; they are put in run order)."""
    ordered = sorted(outcomes, key=lambda o: (o.run.created_at, o.run.id))
    last_state: dict[tuple, bool] = {}
    flips: dict[tuple, int] = defaultdict(int)
    runs: dict[tuple, int] = defaultdict(int)
    commits: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    reruns = 0
    for outcome in ordered:
        series = outcome.run.series
        runs[series] += 1
        if series in last_state and last_state[series] != outcome.failed:
            flips[series] += 1
        last_state[series] = outcome.failed
        if outcome.run.commit is not None:
            commits[(outcome.run.commit, outcome.run.environment)][outcome.failed] += 1
        if outcome.passed_on_rerun and not outcome.failed:
            reruns += 1
    failed = sum(o.failed for o in ordered)
    return Verdict(
        test_case_id=test_case_id,
        code=code,
        passed=len(ordered) - failed,
        failed=failed,
        flips=tuple(SeriesFlips(*series, n, runs[series]) for series, n in flips.items() if n >= 2),
        same_commit=tuple(
            CommitConflict(commit, environment, passed, fails)
            for (commit, environment), (passed, fails) in commits.items()
            if passed and fails
        ),
        passed_on_rerun=reruns,
        last_failed=bool(ordered) and ordered[-1].failed,
    )


@dataclass(frozen=True)
class Scope:
    """Which runs the evidence is read from: the newest ``window`` runs that match.

    ``branch`` and ``environment`` keep only runs with that tag (``None``: any). ``up_to`` keeps
    only that run and runs created before it; with ``same_series`` only those of its branch and
    environment (a missing tag matching a missing tag).
    """

    window: int = DEFAULT_WINDOW
    branch: str | None = None
    environment: str | None = None
    up_to: Run | None = None
    same_series: bool = False

    def describe(self) -> str:
        """Say in words which runs these are: ``the last 20 runs of branch main``."""
        if self.same_series and self.up_to is not None:
            whose = series_label(self.up_to.branch, self.up_to.environment)
        elif self.branch is not None or self.environment is not None:
            parts = [f"branch {self.branch}"] if self.branch is not None else []
            parts += [f"environment {self.environment}"] if self.environment is not None else []
            whose = ", ".join(parts)
        else:
            whose = "the project"
        until = f" up to run {self.up_to.name or self.up_to.id}" if self.up_to is not None else ""
        return f"the last {self.window} runs of {whose}{until}"


def scope_runs(project: Project, scope: Scope) -> list[RunInfo]:
    """Return the runs a scope considers, oldest first (one query on the ``run_series`` index)."""
    where = Run.project == project
    if scope.same_series and scope.up_to is not None:
        where &= same_tag(Run.branch, scope.up_to.branch) & same_tag(Run.environment, scope.up_to.environment)
    if scope.branch is not None:
        where &= Run.branch == scope.branch
    if scope.environment is not None:
        where &= Run.environment == scope.environment
    if scope.up_to is not None:
        where &= created_up_to(scope.up_to)
    query = (
        Run.select(Run.id, Run.name, Run.branch, Run.environment, Run.commit, Run.created_at)
        .where(where)
        .order_by(Run.created_at.desc(), Run.id.desc())
        .limit(scope.window)
        .tuples()
    )
    return [RunInfo(*row) for row in reversed(list(query))]


def verdicts(
    runs: Iterable[RunInfo], test_case_id: str | None = None, failing_in: str | None = None
) -> dict[str, Verdict]:
    """Judge the cases of ``runs`` that could be flaky (one query), by case id.

    Those are the cases that failed, or passed on a rerun, in one of the runs: a case that only
    ever passed there has no evidence, and most cases are such, so their results are not read.
    ``test_case_id`` judges that one case, whatever it did; ``failing_in`` only the cases
    failing in that run.
    """
    by_id = {run.id: run for run in runs}
    if not by_id:
        return {}
    param = database.param
    results, cases = Result._meta.table_name, TestCase._meta.table_name
    run_marks = ", ".join([param] * len(by_id))
    judged = ", ".join([param] * len(_JUDGED))
    failing = ", ".join([param] * len(FAILING_STATUSES))
    rerun = f'r."status" = {param} AND r."comment" IS NOT NULL AND r."comment" LIKE {param}'
    if test_case_id is None and failing_in is None:
        code, source = 'c."code"', f'"{results}" r JOIN "{cases}" c ON c."id" = r."test_case_id"'
    else:
        # A few cases: each row's code is looked up on its own. A join would lead PostgreSQL to
        # read each of these cases' whole history and filter it by run (40 ms instead of 4).
        code, source = f'(SELECT c."code" FROM "{cases}" c WHERE c."id" = r."test_case_id")', f'"{results}" r'
    sql = (
        f'SELECT r."run_id", r."test_case_id", {code}, r."status", CASE WHEN {rerun} THEN 1 ELSE 0 END '
        f'FROM {source} WHERE r."run_id" IN ({run_marks}) AND r."status" IN ({judged})'
    )
    rerun_params = [PASSED, f"%{RERUN_PASS}%"]
    params: list[object] = [*rerun_params, *by_id, *_JUDGED]
    if test_case_id is not None:
        sql += f' AND r."test_case_id" = {param}'
        params.append(test_case_id)
    elif failing_in is not None:
        sql += (
            f' AND r."test_case_id" IN (SELECT f."test_case_id" FROM "{results}" f '
            f'WHERE f."run_id" = {param} AND f."status" IN ({failing}))'
        )
        params += [failing_in, *FAILING_STATUSES]
    else:  # the suspects: through the status index and the small index of commented results
        sql += (
            f' AND r."test_case_id" IN (SELECT f."test_case_id" FROM "{results}" f '
            f'WHERE f."run_id" IN ({run_marks}) AND f."status" IN ({failing}) '
            f'UNION SELECT r."test_case_id" FROM "{results}" r WHERE r."run_id" IN ({run_marks}) AND {rerun})'
        )
        params += [*by_id, *FAILING_STATUSES, *by_id, *rerun_params]
    outcomes: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for run_id, case_id, code, status, passed_on_rerun in database.execute_sql(sql, params):
        outcomes[(case_id, code)].append(Outcome(by_id[run_id], status != PASSED, bool(passed_on_rerun)))
    return {case_id: judge(case_id, code, found) for (case_id, code), found in outcomes.items()}


def worst_first(found: Iterable[Verdict]) -> list[Verdict]:
    """The flaky verdicts among ``found``, most evidence first (then most failures, then by code)."""
    return sorted((v for v in found if v.flaky), key=lambda v: (-v.score, -v.failed, v.code))


def flaky_cases(project: Project, scope: Scope) -> tuple[list[Verdict], list[RunInfo]]:
    """Return the project's flaky cases in a scope, worst first, and the runs the scope considered."""
    runs = scope_runs(project, scope)
    return worst_first(verdicts(runs).values()), runs
