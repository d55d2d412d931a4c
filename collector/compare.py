"""Comparing a run with a base run: what broke, what was fixed, what still fails, what came and went.

Failing means FAILED or BROKEN. Against the base, a case of the run is

- a **new failure** when it fails now and did not fail in the base (a case the base did not have
  counts: a new test that fails is a new failure, and is also *added*);
- **fixed** when it failed in the base and PASSED now;
- **still failing** when it fails in both;
- **added** when the base did not have it; **missing** when the base had it and the run does not.

Without a given base, the base is the most recent run of the project created before this one on
the same branch and environment (a missing tag matches a missing tag) that has results. The
failing cases of the run with flaky evidence (`collector.flaky`) in the last ``window`` runs of
its branch and environment, or of the whole project, up to this run, are marked flaky; the new
failures that are not are the ones a CI gate should fail on (``blocking``).

Whatever the size of the runs, a comparison costs the same few queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import peewee

from collector import flaky, responses
from collector.db import database
from collector.errors import BadRequest
from collector.models import FAILING_STATUSES, Project, Result, Run, TestCase
from collector.runs import created_up_to, get_run, same_tag
from qahub_contract import PASSED

_RESULTS = Result._meta.table_name
_CASES = TestCase._meta.table_name


@dataclass(frozen=True)
class Change:
    """A case of a comparison: its status in the run and in the base (``None`` where it has none)."""

    test_case_id: str
    code: str
    status: str | None
    base_status: str | None


@dataclass
class Comparison:
    """A run against its base: the cases in each list, ordered by code, and the flaky ones."""

    run: Run
    base: Run | None
    base_chosen: str
    new_failures: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    still_failing: list[Change] = field(default_factory=list)
    added: list[Change] = field(default_factory=list)
    missing: list[Change] = field(default_factory=list)
    #: The run's failing cases with flaky evidence, by case id.
    flaky: dict[str, flaky.Verdict] = field(default_factory=dict)
    flaky_scope: str = ""

    @property
    def blocking(self) -> list[Change]:
        """The new failures that are not known to be flaky: what a CI gate fails on."""
        return [c for c in self.new_failures if c.test_case_id not in self.flaky]

    def as_response(self) -> responses.Comparison:
        """The comparison as the API answers it: codes in each list."""

        def codes(changes: list[Change]) -> list[str]:
            return [c.code for c in changes]

        flaky_ones = sorted(self.flaky.values(), key=lambda v: v.code)
        return responses.Comparison(
            run=self.run,
            base=self.base,
            base_chosen=self.base_chosen,
            new_failures=codes(self.new_failures),
            fixed=codes(self.fixed),
            still_failing=codes(self.still_failing),
            added=codes(self.added),
            missing=codes(self.missing),
            flaky=[v.code for v in flaky_ones],
            blocking=codes(self.blocking),
            flaky_evidence={v.code: v.reasons() for v in flaky_ones},
            flaky_scope=self.flaky_scope,
        )


def _tag(value: str | None) -> str:
    return "null" if value is None else value


def previous_run(run: Run) -> Run | None:
    """Return the most recent run before ``run`` on its branch and environment that has results."""
    has_results = peewee.fn.EXISTS(Result.select(Result.id).where(Result.run == Run.id))
    return (
        Run.select()
        .where(
            (Run.project == run.project_id)
            & same_tag(Run.branch, run.branch)
            & same_tag(Run.environment, run.environment)
            & created_up_to(run)
            & (Run.id != run.id)
            & has_results
        )
        .order_by(Run.created_at.desc(), Run.id.desc())
        .first()
    )


def _changes(run: Run, base: Run) -> list[Change]:
    """Every case in a list of the comparison, in two queries (the rest of the rows are not read)."""
    param = database.param
    failing = ", ".join([param] * len(FAILING_STATUSES))
    present = (
        f'SELECT r."test_case_id", c."code", r."status", b."status" '
        f'FROM "{_RESULTS}" r JOIN "{_CASES}" c ON c."id" = r."test_case_id" '
        f'LEFT JOIN "{_RESULTS}" b ON b."run_id" = {param} AND b."test_case_id" = r."test_case_id" '
        f'WHERE r."run_id" = {param} '
        f'AND (b."id" IS NULL OR r."status" IN ({failing}) OR b."status" IN ({failing}))'
    )
    gone = (
        f'SELECT b."test_case_id", c."code", NULL, b."status" '
        f'FROM "{_RESULTS}" b JOIN "{_CASES}" c ON c."id" = b."test_case_id" '
        f'WHERE b."run_id" = {param} AND NOT EXISTS (SELECT 1 FROM "{_RESULTS}" r '
        f'WHERE r."run_id" = {param} AND r."test_case_id" = b."test_case_id")'
    )
    rows = database.execute_sql(present, (base.id, run.id, *FAILING_STATUSES, *FAILING_STATUSES)).fetchall()
    rows += database.execute_sql(gone, (base.id, run.id)).fetchall()
    return sorted((Change(*row) for row in rows), key=lambda c: c.code)


def compare_run(
    project: Project, run_id: str, base_id: str | None = None, window: int = flaky.DEFAULT_WINDOW
) -> Comparison:
    """Compare the project's run ``run_id`` with ``base_id``, or with its previous run when ``None``."""
    flaky.check_window(window)
    run = get_run(project, run_id)
    if base_id is not None:
        if base_id == run.id:
            raise BadRequest("base is the run itself: compare a run with an earlier one")
        base, chosen = get_run(project, base_id), "given"
    else:
        base = previous_run(run)
        series = f"branch {_tag(run.branch)}, environment {_tag(run.environment)}"
        chosen = f"previous run of {series}" if base else f"no earlier run of {series} has results"
    comparison = Comparison(run, base, chosen)
    if base is None:
        return comparison
    for change in _changes(run, base):
        failing, was_failing = change.status in FAILING_STATUSES, change.base_status in FAILING_STATUSES
        if change.base_status is None:
            comparison.added.append(change)
        elif change.status is None:
            comparison.missing.append(change)
        if failing and not was_failing:
            comparison.new_failures.append(change)
        elif failing:
            comparison.still_failing.append(change)
        elif was_failing and change.status == PASSED:
            comparison.fixed.append(change)
    own = flaky.Scope(window, up_to=run, same_series=True)
    project_wide = flaky.Scope(window, up_to=run)
    runs = {r.id: r for scope in (own, project_wide) for r in flaky.scope_runs(project, scope)}
    found = flaky.verdicts(runs.values(), failing_in=run.id)
    comparison.flaky = {case_id: v for case_id, v in found.items() if v.flaky}
    comparison.flaky_scope = f"{own.describe()}, and {project_wide.describe()}"
    return comparison
