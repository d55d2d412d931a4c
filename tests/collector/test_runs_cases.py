"""Runs and test cases: create, list with pagination, read, update."""

from __future__ import annotations

import datetime as dt

from collector.models import TestCase
from tests.conftest import Api


def test_a_run_is_created_pending_and_can_be_completed(api: Api) -> None:
    response = api.post("/runs", json={"name": "nightly"})
    assert response.status_code == 201
    run = response.json["data"]
    assert (run["name"], run["status"], run["completed_at"]) == ("nightly", "PENDING", None)
    assert response.headers["Location"].endswith(run["id"])
    patched = api.patch(f"/runs/{run['id']}", json={"status": "COMPLETED", "name": "nightly-2"}).json["data"]
    assert (patched["status"], patched["name"]) == ("COMPLETED", "nightly-2")
    assert patched["completed_at"] is not None
    reopened = api.patch(f"/runs/{run['id']}", json={"status": "IN_PROGRESS"}).json["data"]
    assert reopened["completed_at"] is None


def test_a_run_says_where_it_comes_from_and_its_tags_can_be_changed_or_cleared(api: Api) -> None:
    tags = {
        "environment": "staging",
        "branch": "main",
        "commit": "0123abcd" * 5,
        "build_url": "https://ci.example.com/build/7",
    }
    run = api.post("/runs", json={"name": "nightly", **tags}).json["data"]
    assert {tag: run[tag] for tag in tags} == tags
    assert api.get(f"/runs/{run['id']}").json["data"]["branch"] == "main"
    untagged = api.post("/runs", json={"name": "bare"}).json["data"]
    assert [untagged[tag] for tag in tags] == [None] * 4
    patched = api.patch(f"/runs/{run['id']}", json={"branch": "release", "environment": None}).json["data"]
    assert (patched["branch"], patched["environment"], patched["commit"]) == ("release", None, tags["commit"])
    response = api.post("/runs", json={"branch": "x" * 256})
    assert response.status_code == 400
    assert "branch" in response.json["error"]["message"]


def test_runs_are_listed_newest_first_with_pagination(api: Api) -> None:
    ids = [api.run(f"r{n}") for n in range(5)]
    page = api.get("/runs", params={"limit": 2, "offset": 1}).json
    assert page["pagination"] == {"total": 5, "limit": 2, "offset": 1}
    assert [r["id"] for r in page["data"]] == [ids[3], ids[2]]


def test_bad_run_bodies_are_400(api: Api) -> None:
    run_id = api.run()
    assert api.post("/runs", json={"name": 5}).status_code == 400
    assert api.post("/runs", json={"nam": "x"}).status_code == 400
    assert api.post("/runs", json=[]).status_code == 400
    response = api.patch(f"/runs/{run_id}", json={"status": "DONE"})
    assert response.status_code == 400
    assert "status" in response.json["error"]["message"]


def test_cases_are_created_read_by_id_or_code_and_patched(api: Api) -> None:
    response = api.post("/cases", json={"code": "TC-001", "title": "Login"})
    assert response.status_code == 201
    case = response.json["data"]
    assert api.get(f"/cases/{case['id']}").json["data"]["code"] == "TC-001"
    assert api.get("/cases/TC-001").json["data"]["id"] == case["id"]
    patched = api.patch("/cases/TC-001", json={"title": "Log in"}).json["data"]
    assert patched["title"] == "Log in"
    assert api.get("/cases/TC-404").status_code == 404


def test_a_duplicate_case_code_is_409(api: Api) -> None:
    api.case("TC-001")
    api.case("TC-002")
    response = api.post("/cases", json={"code": "TC-001"})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"
    assert api.patch("/cases/TC-002", json={"code": "TC-001"}).status_code == 409


def test_cases_are_paginated_by_code_up_to_500(api: Api) -> None:
    for code in ("B", "A", "C"):
        api.case(code)
    page = api.get("/cases", params={"limit": 2}).json
    assert [c["code"] for c in page["data"]] == ["A", "B"]
    assert page["pagination"] == {"total": 3, "limit": 2, "offset": 0}
    assert api.get("/cases", params={"limit": 501}).status_code == 400
    assert api.get("/cases", params={"limit": 0}).status_code == 400
    assert api.get("/cases", params={"offset": -1}).status_code == 400
    assert api.get("/cases", params={"limit": "ten"}).status_code == 400


def test_the_listing_shows_each_case_as_reading_it_does(api: Api) -> None:
    api.case("TC-001", "Login")
    api.case("TC-002", "Logout")
    api.patch("/cases/TC-002", json={"title": "Log out"})
    # A whole second: SQLite then stores the time without a fraction.
    TestCase.update(created_at=dt.datetime(2026, 1, 2, 3, 4, 5)).where(TestCase.code == "TC-001").execute()
    listed = api.get("/cases").json["data"]
    assert listed == [api.get(f"/cases/{code}").json["data"] for code in ("TC-001", "TC-002")]
    assert listed[0]["created_at"] == "2026-01-02T03:04:05.000Z"
    assert listed[1]["title"] == "Log out"


def test_unknown_paths_and_methods_use_the_error_shape(api: Api) -> None:
    missing = api.get("/nothing")
    assert missing.status_code == 404
    assert missing.json["error"]["code"] == "not_found"
    wrong = api.client.simulate_put("/api/v1/runs", headers={"Authorization": f"Bearer {api.token}"})
    assert wrong.status_code == 405
    assert wrong.json["error"]["status"] == 405
