"""The flaky rule on its own: outcomes in, a verdict out, no database."""

from __future__ import annotations

import datetime as dt

import pytest

from collector.flaky import Outcome, RunInfo, judge

T0 = dt.datetime(2026, 5, 1)


def outcomes(
    letters: str, branch: str | None = "main", environment: str | None = None, start: int = 0
) -> list[Outcome]:
    """One outcome per letter, in run order: P passed, F failed, R passed on a rerun."""
    found = []
    for n, letter in enumerate(letters, start):
        run = RunInfo(f"run-{n:03d}", f"r{n}", branch, environment, None, T0 + dt.timedelta(hours=n))
        found.append(Outcome(run, failed=letter == "F", passed_on_rerun=letter == "R"))
    return found


@pytest.mark.parametrize(
    ("letters", "flaky"),
    [
        ("PPPP", False),
        ("FFFF", False),
        ("PPFF", False),  # broke once and stayed broken
        ("FFPP", False),  # fixed once
        ("PFP", True),  # flipped twice
        ("FPF", True),
        ("PPFPPPP", True),
        ("P", False),
        ("", False),
    ],
)
def test_a_case_is_flaky_when_it_flipped_at_least_twice(letters: str, flaky: bool) -> None:
    assert judge("id", "T", outcomes(letters)).flaky is flaky


def test_outcomes_are_put_in_run_order_before_flips_are_counted() -> None:
    shuffled = list(reversed(outcomes("PPFF")))

    verdict = judge("id", "T", shuffled)

    assert not verdict.flaky and verdict.last_failed


def test_flips_in_two_series_are_not_added_up() -> None:
    # main broke once, release broke once: two changes, no flakiness.
    found = outcomes("PF", branch="main") + outcomes("PF", branch="release", start=2)

    assert not judge("id", "T", found).flaky


def test_passing_and_failing_on_one_commit_in_one_environment_is_flaky() -> None:
    def on(commit: str, environment: str, failed: bool, hour: int) -> Outcome:
        return Outcome(
            RunInfo(f"r{hour}", "", "main", environment, commit, T0 + dt.timedelta(hours=hour)), failed
        )

    same = judge("id", "T", [on("abc", "linux", True, 0), on("abc", "linux", False, 1)])
    across = judge("id", "T", [on("abc", "linux", True, 0), on("abc", "windows", False, 1)])

    assert same.flaky and [c.commit for c in same.same_commit] == ["abc"]
    assert not across.flaky


def test_a_pass_on_a_rerun_is_evidence_and_a_failure_on_every_attempt_is_not() -> None:
    verdict = judge("id", "T", outcomes("PRP"))

    assert verdict.flaky and verdict.passed_on_rerun == 1
    assert verdict.reasons() == ["failed, then passed on a rerun, in 1 run"]


def test_the_score_adds_up_every_piece_of_evidence() -> None:
    verdict = judge("id", "T", outcomes("PFPFR"))

    assert (verdict.score, verdict.passed, verdict.failed) == (4 + 1, 3, 2)
