"""The bulk upsert and listing of results, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from collector import results
from collector.db import is_sqlite, write_transaction
from collector.errors import Conflict, NotFound
from collector.models import Run, utcnow
from collector.runs import mark_written
from tests.conftest import Api


def post(api: Api, run_id: str, *items: dict, **kw):
    return api.post(f"/runs/{run_id}/results", json={"results": list(items)}, **kw)


@pytest.fixture
def run_id(api: Api) -> str:
    api.case("TC-001", "Login works")
    api.case("TC-002", "Logout works")
    return api.run("nightly")


def test_the_seed_example_is_accepted_with_201(api: Api, run_id: str) -> None:
    response = post(
        api,
        run_id,
        {"test_case_code": "TC-001", "status": "PASSED", "duration_ms": 1240, "framework": "playwright"},
        {
            "test_case_code": "TC-002",
            "status": "FAILED",
            "error_message": "Expected 'Welcome' but got 'Error'",
            "duration_ms": 3800,
            "framework": "playwright",
            "bug_ticket_key": "LIN-42",
        },
    )
    assert response.status_code == 201
    assert response.json["errors"] == []
    accepted = response.json["data"]
    assert [a["test_case_code"] for a in accepted] == ["TC-001", "TC-002"]
    assert [a["status"] for a in accepted] == ["PASSED", "FAILED"]
    assert all(a["id"] and a["test_case_id"] for a in accepted)

    rows = {r["test_case_code"]: r for r in api.get(f"/runs/{run_id}/results").json["data"]}
    assert rows["TC-002"]["error_message"] == "Expected 'Welcome' but got 'Error'"
    assert rows["TC-002"]["bug_ticket_key"] == "LIN-42"
    assert rows["TC-001"]["duration_ms"] == 1240
    assert rows["TC-002"]["id"] == accepted[1]["id"]
    expected = {
        "id", "test_case_id", "test_case_code", "status", "comment", "bug_ticket_key", "bug_ticket_url",
        "duration_ms", "framework", "error_message", "error_stack", "executed_at", "created_at", "updated_at",
    }  # fmt: skip
    assert set(rows["TC-001"]) == expected


def test_it_maps_items_by_test_case_id_too(api: Api, run_id: str) -> None:
    case_id = api.get("/cases/TC-001").json["data"]["id"]
    response = post(api, run_id, {"test_case_id": case_id, "status": "SKIPPED"})
    assert response.status_code == 201
    assert response.json["data"][0]["test_case_code"] == "TC-001"


def test_it_upserts_one_row_per_case(api: Api, run_id: str) -> None:
    first = post(api, run_id, {"test_case_code": "TC-001", "status": "FAILED"}).json["data"][0]
    second = post(api, run_id, {"test_case_code": "TC-001", "status": "PASSED"}).json["data"][0]
    assert first["id"] == second["id"]
    rows = api.get(f"/runs/{run_id}/results").json["data"]
    assert [(r["test_case_code"], r["status"]) for r in rows] == [("TC-001", "PASSED")]


def test_the_later_item_wins_within_one_request(api: Api, run_id: str) -> None:
    response = post(
        api,
        run_id,
        {"test_case_code": "TC-001", "status": "FAILED", "error_message": "first"},
        {"test_case_code": "TC-001", "status": "PASSED"},
    )
    assert response.status_code == 201
    assert len({a["id"] for a in response.json["data"]}) == 1
    rows = api.get(f"/runs/{run_id}/results").json["data"]
    assert [(r["status"], r["error_message"]) for r in rows] == [("PASSED", None)]


def test_an_older_result_never_overwrites_a_newer_one(api: Api, run_id: str) -> None:
    newer = {"test_case_code": "TC-001", "status": "PASSED", "executed_at": "2026-05-13T12:00:00Z"}
    older = {"test_case_code": "TC-001", "status": "FAILED", "executed_at": "2026-05-13T11:00:00+00:00"}
    assert post(api, run_id, newer).status_code == 201
    assert post(api, run_id, older).status_code == 201  # accepted: a replay is not an error
    rows = api.get(f"/runs/{run_id}/results").json["data"]
    assert rows[0]["status"] == "PASSED"
    assert rows[0]["executed_at"] == "2026-05-13T12:00:00.000Z"


def test_a_newer_result_replaces_every_field(api: Api, run_id: str) -> None:
    post(api, run_id, {"test_case_code": "TC-001", "status": "FAILED", "error_message": "boom",
                       "executed_at": "2026-05-13T11:00:00Z"})  # fmt: skip
    post(api, run_id, {"test_case_code": "TC-001", "status": "PASSED", "executed_at": "2026-05-13T12:00:00Z"})
    row = api.get(f"/runs/{run_id}/results").json["data"][0]
    assert (row["status"], row["error_message"]) == ("PASSED", None)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2026-05-13T14:30:00+02:00", "2026-05-13T12:30:00.000Z"),
        ("2025-12-31T20:15:00.250-05:45", "2026-01-01T02:00:00.250Z"),
        ("2026-05-13T14:30:00.125Z", "2026-05-13T14:30:00.125Z"),
        ("2026-05-13T14:30:00", "2026-05-13T14:30:00.000Z"),  # no zone: taken as UTC
    ],
)
def test_executed_at_with_an_offset_is_stored_in_utc(api: Api, run_id: str, sent: str, stored: str) -> None:
    post(api, run_id, {"test_case_code": "TC-001", "status": "PASSED", "executed_at": sent})
    assert api.get(f"/runs/{run_id}/results").json["data"][0]["executed_at"] == stored


def test_a_bad_item_is_rejected_and_the_others_are_kept(api: Api, run_id: str) -> None:
    response = post(
        api,
        run_id,
        {"test_case_code": "TC-001", "status": "PASSED"},
        {"test_case_code": "TC-404", "status": "PASSED"},
        {"test_case_code": "TC-002", "status": "GREEN"},
        {"status": "PASSED"},
        {"test_case_code": "TC-002", "test_case_id": "x", "status": "PASSED"},
        "not an object",
        {"test_case_code": "TC-002", "status": "PASSED", "duration_ms": -1},
    )
    assert response.status_code == 207
    assert [a["test_case_code"] for a in response.json["data"]] == ["TC-001"]
    errors = {e["index"]: e for e in response.json["errors"]}
    assert sorted(errors) == [1, 2, 3, 4, 5, 6]
    assert errors[1]["test_case_code"] == "TC-404"
    assert "TC-404" in errors[1]["message"]
    assert "status" in errors[2]["message"]
    assert "exactly one of test_case_code and test_case_id" in errors[3]["message"]
    assert "exactly one" in errors[4]["message"]
    assert "duration_ms" in errors[6]["message"]
    assert len(api.get(f"/runs/{run_id}/results").json["data"]) == 1


def test_all_items_rejected_is_still_207(api: Api, run_id: str) -> None:
    response = post(api, run_id, {"test_case_code": "NOPE", "status": "PASSED"})
    assert response.status_code == 207
    assert response.json["data"] == []
    assert response.json["errors"][0]["index"] == 0


def test_a_case_of_another_project_is_unknown(api: Api, run_id: str) -> None:
    from collector.projects import create_project

    with api.db.connection_context():
        other = create_project("other")
    other_token = api.token_for(project=other)
    other_case = api.post("/cases", token=other_token, json={"code": "OTHER-1"}).json["data"]["id"]
    response = post(api, run_id, {"test_case_id": other_case, "status": "PASSED"})
    assert response.status_code == 207


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[]", 400, '"results" list'),
        (b'{"results": {}}', 400, '"results" list'),
        (b'{"results": []}', 400, "empty"),
        (b"", 400, "empty"),
        (b"\xff\xfe{}", 400, "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, 400, "not valid JSON"),
    ],
)
def test_envelope_problems_are_400_with_the_error_shape(api: Api, run_id: str, body, status, words) -> None:
    response = api.post(f"/runs/{run_id}/results", body=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    error = response.json["error"]
    assert error["status"] == status
    assert error["code"] == "bad_request"
    assert words in error["message"]


def test_a_body_that_is_not_json_is_415(api: Api, run_id: str) -> None:
    response = api.post(f"/runs/{run_id}/results", body=b"results", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"


def test_more_items_than_the_batch_limit_is_413(tmp_path, database_url) -> None:
    from tests.conftest import make_api

    api = make_api(database_url, tmp_path / "a", max_batch=3)
    api.case("TC-1")
    run_id = api.run()
    items = [{"test_case_code": "TC-1", "status": "PASSED"}] * 4
    response = post(api, run_id, *items)
    assert response.status_code == 413
    assert "limit is 3" in response.json["error"]["message"]
    assert post(api, run_id, *items[:3]).status_code == 201


def test_a_body_over_the_byte_limit_is_413(tmp_path, sqlite_url) -> None:
    from tests.conftest import make_api

    api = make_api(sqlite_url, tmp_path / "a", max_body_bytes=1000)
    run_id = api.run()
    big = {"test_case_code": "TC-1", "status": "PASSED", "comment": "x" * 2000}
    response = post(api, run_id, big)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


def test_an_unknown_run_is_404(api: Api) -> None:
    response = post(api, "no-such-run", {"test_case_code": "TC-001", "status": "PASSED"})
    assert response.status_code == 404
    assert "no-such-run" in response.json["error"]["message"]
    assert api.get("/runs/no-such-run/results").status_code == 404


def test_a_completed_run_takes_no_results(api: Api, run_id: str) -> None:
    assert api.patch(f"/runs/{run_id}", json={"status": "COMPLETED"}).status_code == 200
    response = post(api, run_id, {"test_case_code": "TC-001", "status": "PASSED"})
    assert response.status_code == 409
    assert "COMPLETED" in response.json["error"]["message"]


def test_the_mark_of_a_batch_refuses_a_run_completed_or_unknown(api: Api, run_id: str) -> None:
    # On PostgreSQL the upsert marks the run last: a run completed while a batch was being
    # written then takes none of it.
    assert api.patch(f"/runs/{run_id}", json={"status": "COMPLETED"}).status_code == 200
    before = api.get(f"/runs/{run_id}").json["data"]
    with api.db.connection_context():
        with pytest.raises(Conflict, match="COMPLETED"), write_transaction():
            mark_written(api.project, run_id, utcnow())
        with pytest.raises(NotFound), write_transaction():
            mark_written(api.project, "no-such-run", utcnow())
    assert api.get(f"/runs/{run_id}").json["data"] == before


def test_a_run_deleted_while_its_batch_is_written_is_404(
    api: Api, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On SQLite the ids of the rows are read after the commit: the run may be gone by then.
    looked_up = results._result_ids

    def deleted_first(*args):
        assert api.delete(f"/runs/{run_id}").status_code == 204
        return looked_up(*args)

    monkeypatch.setattr(results, "_result_ids", deleted_first)
    response = post(api, run_id, {"test_case_code": "TC-001", "status": "PASSED"})
    if is_sqlite(api.db):
        assert response.status_code == 404, response.json
        assert response.json["error"]["code"] == "not_found"
    else:
        assert response.status_code == 201  # the ids come back from the upsert itself


def test_a_result_deleted_while_its_batch_is_written_is_that_items_error(
    api: Api, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On SQLite the ids are read after the commit: one row may have been deleted by then
    # (DELETE /results/{id}). The others are answered; that item is not resurrected by a retry.
    first = post(api, run_id, {"test_case_code": "TC-001", "status": "FAILED"})
    doomed = first.json["data"][0]["id"]
    looked_up = results._result_ids

    def deleted_first(*args):
        assert api.delete(f"/results/{doomed}").status_code == 204
        return looked_up(*args)

    monkeypatch.setattr(results, "_result_ids", deleted_first)
    response = post(
        api,
        run_id,
        {"test_case_code": "TC-001", "status": "PASSED"},
        {"test_case_code": "TC-002", "status": "PASSED"},
    )
    if not is_sqlite(api.db):
        assert response.status_code == 201  # the ids come back from the upsert itself
        return
    assert response.status_code == 207, response.json
    assert [item["test_case_code"] for item in response.json["data"]] == ["TC-002"]
    [error] = response.json["errors"]
    assert (error["index"], error["test_case_code"]) == (0, "TC-001")
    assert "deleted" in error["message"]


def test_posting_results_starts_a_pending_run(api: Api, run_id: str) -> None:
    assert api.get(f"/runs/{run_id}").json["data"]["status"] == "PENDING"
    post(api, run_id, {"test_case_code": "TC-001", "status": "PASSED"})
    assert api.get(f"/runs/{run_id}").json["data"]["status"] == "IN_PROGRESS"


def test_posting_results_moves_the_runs_updated_at_and_keeps_a_started_run_as_it_is(
    api: Api, run_id: str
) -> None:
    Run.update(status="IN_PROGRESS", updated_at=dt.datetime(2020, 1, 1)).where(Run.id == run_id).execute()
    post(api, run_id, {"test_case_code": "TC-001", "status": "PASSED"})
    run = api.get(f"/runs/{run_id}").json["data"]
    assert run["status"] == "IN_PROGRESS"
    updated = dt.datetime.fromisoformat(run["updated_at"].replace("Z", "+00:00"))
    assert dt.datetime.now(dt.UTC) - updated < dt.timedelta(minutes=1)


def test_listing_filters_by_status(api: Api, run_id: str) -> None:
    post(
        api,
        run_id,
        {"test_case_code": "TC-001", "status": "PASSED"},
        {"test_case_code": "TC-002", "status": "FAILED"},
    )
    failed = api.get(f"/runs/{run_id}/results", params={"status": "FAILED"}).json["data"]
    assert [r["test_case_code"] for r in failed] == ["TC-002"]
    assert api.get(f"/runs/{run_id}/results", params={"status": "RED"}).status_code == 400


def test_listing_streams_more_than_one_page(api: Api) -> None:
    from collector.results import _LIST_PAGE

    run_id = api.run()
    count = _LIST_PAGE + 7
    with api.db.connection_context():
        from collector.cases import import_cases

        import_cases(api.project, [(f"C-{n:05}", "") for n in range(count)])
    for start in range(0, count, 1000):
        items = [
            {"test_case_code": f"C-{n:05}", "status": "PASSED"}
            for n in range(start, min(count, start + 1000))
        ]
        assert post(api, run_id, *items).status_code == 201
    rows = api.get(f"/runs/{run_id}/results").json["data"]
    assert len(rows) == count
    assert len({r["id"] for r in rows}) == count


def test_nul_characters_and_huge_strings_never_cause_a_500(api: Api, run_id: str) -> None:
    response = post(
        api,
        run_id,
        {
            "test_case_code": "TC-001",
            "status": "FAILED",
            "error_stack": "a\x00b",
            "error_message": "x" * 70_000,
        },
        {"test_case_code": "TC-002", "status": "FAILED", "error_stack": "a\x00b", "framework": "f" * 500},
        {"test_case_code": "TC-\x00", "status": "PASSED"},
        {"test_case_code": "TC-001", "status": "PASSED", "duration_ms": 2**70},
        {"test_case_code": "TC-001", "status": "PASSED", "executed_at": "yesterday"},
        {"test_case_code": "x" * 300, "status": "PASSED"},
    )
    assert response.status_code == 207
    assert sorted(e["index"] for e in response.json["errors"]) == [0, 1, 2, 3, 4, 5]
    ok = post(api, run_id, {"test_case_code": "TC-001", "status": "FAILED", "error_stack": "a\x00b"})
    assert ok.status_code == 201
    assert api.get(f"/runs/{run_id}/results").json["data"][0]["error_stack"] == "a\ufffdb"


@pytest.mark.parametrize(
    ("stamp", "says"),
    [
        ("9999-12-31T23:59:59-14:00", "out of range once converted to UTC"),
        ("0001-01-01T00:00:00+14:00", "out of range once converted to UTC"),
        ("9999-01-01T00:00:00Z", "ahead of the collector's clock"),
    ],
)
def test_an_executed_at_out_of_range_rejects_only_its_item(
    api: Api, run_id: str, stamp: str, says: str
) -> None:
    response = post(
        api,
        run_id,
        {"test_case_code": "TC-001", "status": "PASSED", "executed_at": stamp},
        {"test_case_code": "TC-002", "status": "FAILED"},
    )

    assert response.status_code == 207
    [error] = response.json["errors"]
    assert error["index"] == 0 and says in error["message"] and error["message"].startswith("executed_at")
    assert [r["test_case_code"] for r in api.get(f"/runs/{run_id}/results").json["data"]] == ["TC-002"]


def test_a_far_future_result_cannot_pin_a_case_against_later_real_ones(api: Api, run_id: str) -> None:
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    pinned = post(api, run_id, {"test_case_code": "TC-001", "status": "PASSED", "executed_at": future})
    assert pinned.status_code == 207

    assert post(api, run_id, {"test_case_code": "TC-001", "status": "FAILED"}).status_code == 201
    assert [r["status"] for r in api.get(f"/runs/{run_id}/results").json["data"]] == ["FAILED"]


def test_a_clock_a_few_hours_ahead_is_accepted(api: Api, run_id: str) -> None:
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)).isoformat()

    assert (
        post(api, run_id, {"test_case_code": "TC-001", "status": "PASSED", "executed_at": ahead}).status_code
        == 201
    )


def test_a_body_of_many_tiny_values_is_413_before_it_is_parsed(api: Api, run_id: str) -> None:
    body = b'{"results": [' + b"{}," * 200_000 + b"{}]}"  # 600 kB: 200,001 items

    response = api.post(f"/runs/{run_id}/results", body=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert "JSON values" in response.json["error"]["message"]


def test_commas_and_brackets_inside_strings_do_not_count_against_a_batch(api: Api, run_id: str) -> None:
    stack = 'File "t.py", line 3, in f: assert [1, 2, {3: 4}] == [1, 2]\n' * 200  # 1,000 commas
    items = [
        {"test_case_code": code, "status": "FAILED", "error_stack": stack} for code in ("TC-001", "TC-002")
    ]
    response = api.post(
        f"/runs/{run_id}/results",
        body=orjson.dumps({"results": items * 40}),  # 80 items, 80,000 commas inside strings
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text[:300]
