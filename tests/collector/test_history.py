"""Questions across runs through the API, on SQLite and PostgreSQL: history, compare, flaky, groups."""

from __future__ import annotations

import pytest

from collector.cases import create_case
from collector.projects import create_project
from collector.runs import create_run
from tests.conftest import Api
from tests.support.history import History
from tests.support.statements import statements


@pytest.fixture
def history(api: Api) -> History:
    return History(api)


def codes(items: list[dict]) -> list[str]:
    return [item["test_case_code"] for item in items]


# A case's history


def test_a_cases_results_come_newest_first_each_with_its_run(history: History) -> None:
    first = history.run("nightly 1", {"TC-1": "PASSED"}, branch="main", commit="aaa", environment="staging")
    history.run("other", {"TC-2": "PASSED"})
    last = history.run("nightly 2", {"TC-1": {"status": "FAILED", "error_message": "boom"}}, branch="dev")

    page = history.api.get("/cases/TC-1/results").json

    assert page["pagination"] == {"total": 2, "limit": 100, "offset": 0}
    assert [r["status"] for r in page["data"]] == ["FAILED", "PASSED"]
    newest, oldest = page["data"]
    assert newest["run"] == {
        "id": last,
        "name": "nightly 2",
        "branch": "dev",
        "commit": None,
        "environment": None,
    }
    assert oldest["run"] == {
        "id": first,
        "name": "nightly 1",
        "branch": "main",
        "commit": "aaa",
        "environment": "staging",
    }
    assert newest["error_message"] == "boom" and newest["test_case_code"] == "TC-1"
    assert newest["executed_at"] > oldest["executed_at"]


def test_a_cases_history_is_paginated_and_found_by_id_too(history: History) -> None:
    history.series("TC-1", "PFPFP")
    case_id = history.api.get("/cases/TC-1").json["data"]["id"]

    page = history.api.get(f"/cases/{case_id}/results", params={"limit": 2, "offset": 1}).json

    assert page["pagination"] == {"total": 5, "limit": 2, "offset": 1}
    assert [(r["run"]["name"], r["status"]) for r in page["data"]] == [("r3", "FAILED"), ("r2", "PASSED")]


def test_another_projects_case_has_no_history_here(api: Api) -> None:
    with api.db.connection_context():
        theirs = create_case(create_project("other"), "THEIRS")

    for ref in ("THEIRS", theirs.id, "nothing"):
        response = api.get(f"/cases/{ref}/results")
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"
    assert api.get("/cases/x/results", params={"limit": 0}).status_code == 400


# Comparing a run with its base


def test_a_run_is_compared_with_the_previous_run_of_its_branch_and_environment(history: History) -> None:
    base = history.run(
        "main 1",
        {"KEEPS": "PASSED", "BREAKS": "PASSED", "FIXED": "FAILED", "STILL": "BROKEN", "GONE": "FAILED"},
        branch="main",
    )
    history.run("dev", {"KEEPS": "FAILED"}, branch="dev")  # another branch
    history.run("main, staging", {"KEEPS": "FAILED"}, branch="main", environment="staging")
    history.run("main, no results", {}, branch="main")
    run = history.run(
        "main 2",
        {
            "KEEPS": "PASSED",
            "BREAKS": "FAILED",
            "FIXED": "PASSED",
            "STILL": "FAILED",
            "NEW": "BROKEN",
            "NEW2": "PASSED",
        },
        branch="main",
    )

    data = history.api.get(f"/runs/{run}/compare").json["data"]

    assert data["base"]["id"] == base and data["run"]["id"] == run
    assert data["base_chosen"] == "previous run of branch main, environment null"
    assert data["new_failures"] == ["BREAKS", "NEW"]  # a new case that fails is a new failure too
    assert data["fixed"] == ["FIXED"]
    assert data["still_failing"] == ["STILL"]
    assert data["added"] == ["NEW", "NEW2"]
    assert data["missing"] == ["GONE"]
    assert data["flaky"] == [] and data["blocking"] == ["BREAKS", "NEW"]


def test_a_run_can_be_compared_with_any_run_of_the_project(history: History) -> None:
    older = history.run("old", {"A": "FAILED", "B": "PASSED"}, branch="release")
    run = history.run("new", {"A": "PASSED", "B": "FAILED"}, branch="main")

    data = history.api.get(f"/runs/{run}/compare", params={"base": older}).json["data"]

    assert (data["base"]["id"], data["base_chosen"]) == (older, "given")
    assert (data["new_failures"], data["fixed"]) == (["B"], ["A"])


def test_the_first_run_of_a_branch_has_no_base_and_nothing_new(history: History) -> None:
    history.run("main", {"A": "PASSED"}, branch="main")
    run = history.run("feature", {"A": "FAILED"}, branch="feature/x", environment="py3.12")

    data = history.api.get(f"/runs/{run}/compare").json["data"]

    assert data["base"] is None
    assert data["base_chosen"] == "no earlier run of branch feature/x, environment py3.12 has results"
    assert [data[k] for k in ("new_failures", "fixed", "still_failing", "added", "missing", "blocking")] == [
        []
    ] * 6


def test_a_base_of_another_project_the_run_itself_or_a_bad_window_is_refused(api: Api) -> None:
    run = api.run("ours")
    with api.db.connection_context():
        theirs = create_run(create_project("other"), "theirs").id

    assert api.get(f"/runs/{run}/compare", params={"base": theirs}).status_code == 404
    assert api.get(f"/runs/{theirs}/compare").status_code == 404
    assert api.get(f"/runs/{run}/compare", params={"base": run}).status_code == 400
    for window in ("1", "201", "x"):
        response = api.get(f"/runs/{run}/compare", params={"window": window})
        assert response.status_code == 400
        assert "window" in response.json["error"]["message"]
    assert api.get(f"/runs/{run}/compare", params={"base": "a\x00b"}).status_code == 400


def test_new_failures_known_to_be_flaky_are_marked_and_do_not_block(history: History) -> None:
    for n, status in enumerate("PFPP"):  # FLAKY flipped twice on main already
        history.run(
            f"main {n}", {"FLAKY": "PASSED" if status == "P" else "FAILED", "REAL": "PASSED"}, branch="main"
        )
    run = history.run("main 4", {"FLAKY": "FAILED", "REAL": "FAILED"}, branch="main")

    data = history.api.get(f"/runs/{run}/compare").json["data"]

    assert data["new_failures"] == ["FLAKY", "REAL"]
    assert data["flaky"] == ["FLAKY"]
    assert data["blocking"] == ["REAL"]
    assert data["flaky_evidence"]["FLAKY"] == [
        "flipped 3 times between passing and failing in 5 runs of branch main"
    ]


def test_flakiness_seen_on_another_branch_counts_for_a_feature_branch(history: History) -> None:
    history.series("T", "PFPF", prefix="main ", branch="main")
    history.run("feature 1", {"T": "PASSED"}, branch="feature")
    run = history.run("feature 2", {"T": "FAILED"}, branch="feature")

    data = history.api.get(f"/runs/{run}/compare").json["data"]

    assert (data["new_failures"], data["flaky"], data["blocking"]) == (["T"], ["T"], [])


# Flaky cases


def test_a_case_that_broke_once_or_was_fixed_once_is_not_flaky(history: History) -> None:
    history.series("BROKE", "PPPFFF", branch="main")
    history.series("FIXED", "FFFPPP", branch="main")
    history.series("STEADY", "PPPPPP", branch="main")

    assert history.api.get("/flaky").json["data"] == []


def test_a_case_that_flipped_twice_in_a_branch_is_flaky_with_its_evidence(history: History) -> None:
    history.series("T", "PPFPP", branch="main")

    found = history.api.get("/flaky").json

    assert codes(found["data"]) == ["T"]
    verdict = found["data"][0]
    assert verdict["evidence"]["flips"] == [{"branch": "main", "environment": None, "flips": 2, "runs": 5}]
    assert (verdict["passed"], verdict["failed"], verdict["last_status"]) == (4, 1, "passing")
    assert verdict["reasons"] == ["flipped twice between passing and failing in 5 runs of branch main"]
    assert found["scope"] == {"runs": 5, "description": "the last 20 runs of the project"}


def test_skipped_and_unknown_results_say_nothing_about_flakiness(history: History) -> None:
    history.series("T", "PSPUPSP")

    assert history.api.get("/flaky").json["data"] == []


def test_flips_are_counted_within_one_branch_and_environment(history: History) -> None:
    # Always failing on windows, always passing on linux, the runs interleaved: not flaky.
    for n in range(4):
        history.run(f"linux {n}", {"T": "PASSED"}, branch="main", environment="linux")
        history.run(f"windows {n}", {"T": "FAILED"}, branch="main", environment="windows")

    assert history.api.get("/flaky").json["data"] == []


def test_passing_and_failing_on_the_same_commit_is_flaky(history: History) -> None:
    history.run("first try", {"T": "FAILED", "ENV": "PASSED"}, commit="abc123", environment="linux")
    history.run("retry", {"T": "PASSED", "ENV": "PASSED"}, commit="abc123", environment="linux")
    history.run("windows", {"T": "PASSED", "ENV": "FAILED"}, commit="abc123", environment="windows")

    found = history.api.get("/flaky").json["data"]

    assert codes(found) == ["T"]  # ENV fails on one environment only: that is not flakiness
    assert found[0]["evidence"]["same_commit"] == [
        {"commit": "abc123", "environment": "linux", "passed": 1, "failed": 1}
    ]


def test_passing_on_a_rerun_within_a_run_is_flaky(history: History) -> None:
    history.run("r1", {"T": {"status": "PASSED", "comment": "passed on attempt 2 of 3"}})
    history.run("r2", {"U": {"status": "FAILED", "comment": "failed on attempt 3 of 3"}})

    found = history.api.get("/flaky").json["data"]

    assert codes(found) == ["T"]
    assert found[0]["evidence"]["passed_on_rerun"] == 1
    assert found[0]["reasons"] == ["failed, then passed on a rerun, in 1 run"]


def test_flaky_cases_come_worst_first_and_can_be_narrowed_to_a_branch_and_window(history: History) -> None:
    history.series("MILD", "PFP", prefix="dev ", branch="dev")
    history.series("WORST", "PFPFPF", prefix="main ", branch="main")
    history.series("MID", "FPFPP", prefix="main2 ", branch="main")
    api = history.api

    assert codes(api.get("/flaky").json["data"]) == ["WORST", "MID", "MILD"]
    assert codes(api.get("/flaky", params={"branch": "main"}).json["data"]) == ["WORST", "MID"]
    assert codes(api.get("/flaky", params={"branch": "dev", "window": 2}).json["data"]) == []
    narrowed = api.get("/flaky", params={"branch": "main", "window": 5}).json  # MID's five runs only
    assert codes(narrowed["data"]) == ["MID"]
    assert narrowed["scope"] == {"runs": 5, "description": "the last 5 runs of branch main"}
    page = api.get("/flaky", params={"limit": 1, "offset": 1}).json
    assert codes(page["data"]) == ["MID"] and page["pagination"] == {"total": 3, "limit": 1, "offset": 1}


def test_bad_flaky_parameters_are_400(api: Api) -> None:
    for params in ({"window": "1"}, {"window": "x"}, {"branch": "a\x00"}, {"branch": "b" * 256}):
        response = api.get("/flaky", params=params)
        assert response.status_code == 400, params
        assert response.json["error"]["code"] == "bad_request"


# Failure groups


def test_failures_with_the_same_message_but_for_its_values_are_one_group(history: History) -> None:
    timeout = "TimeoutError: page.goto: Timeout {}ms exceeded at 0x7f{}a2"
    results = {
        "T1": {"status": "FAILED", "error_message": timeout.format(30000, 1)},
        "T2": {"status": "BROKEN", "error_message": timeout.format(15000, 2)},
        "T3": {"status": "FAILED", "error_message": timeout.format(5000, 3)},
        "K1": {"status": "FAILED", "error_message": "KeyError: 'user-17' (id c0mx1aaz50jqdh3dyso3ni3xs)"},
        "K2": {"status": "FAILED", "error_message": "KeyError: 'user-9' (id c0mx1abc50jqdh3dyso3ni9zz)"},
        "N1": {"status": "FAILED"},
        "P1": {"status": "PASSED", "error_message": timeout.format(1, 1)},
    }
    run = history.run("r", results)

    groups = history.api.get(f"/runs/{run}/failure-groups").json["data"]

    assert [(g["pattern"], g["count"], g["codes"]) for g in groups] == [
        ("TimeoutError: page.goto: Timeout <n>ms exceeded at <addr>", 3, ["T1", "T2", "T3"]),
        ("KeyError: '<…>' (id <id>)", 2, ["K1", "K2"]),
        (None, 1, ["N1"]),
    ]
    assert groups[0]["statuses"] == {"FAILED": 2, "BROKEN": 1}
    assert groups[0]["example"] == timeout.format(30000, 1)


def test_another_projects_run_has_no_failure_groups_here(api: Api) -> None:
    with api.db.connection_context():
        theirs = create_run(create_project("other"), "theirs").id

    assert api.get(f"/runs/{theirs}/failure-groups").status_code == 404
    assert api.get("/runs/nothing/failure-groups").status_code == 404


# Access


def test_a_read_token_may_ask_and_a_write_only_token_may_not(history: History) -> None:
    run = history.run("r", {"A": "FAILED"})
    read, write = history.api.token_for("read"), history.api.token_for("write")
    paths = ["/cases/A/results", f"/runs/{run}/compare", "/flaky", f"/runs/{run}/failure-groups"]

    assert [history.api.get(p, token=read).status_code for p in paths] == [200] * 4
    assert [history.api.get(p, token=write).status_code for p in paths] == [403] * 4
    assert history.api.get("/flaky", headers={"Authorization": None}).status_code == 401


# Cost


def test_each_answer_costs_the_same_number_of_queries_whatever_the_size_of_the_runs(history: History) -> None:
    def questions(size: int, tag: str) -> dict[str, int]:
        cases = [f"{tag}-{n:03d}" for n in range(size)]
        for n in range(3):
            history.run(
                f"{tag} {n}",
                {c: "FAILED" if (i + n) % 2 else "PASSED" for i, c in enumerate(cases)},
                branch=tag,
            )
        run = history.run(f"{tag} last", {c: "FAILED" for c in cases}, branch=tag)
        counts = {}
        for path in (
            f"/cases/{cases[0]}/results",
            f"/runs/{run}/compare",
            f"/flaky?branch={tag}",
            f"/runs/{run}/failure-groups",
        ):
            with statements() as seen:
                assert history.api.get(path).status_code == 200
            counts[path.split("?")[0].replace(run, "{id}").replace(cases[0], "{case}")] = len(seen)
        return counts

    small, large = questions(3, "small"), questions(60, "large")

    assert [n for n in small.values()] == [n for n in large.values()]
    assert all(n <= 8 for n in large.values()), large
