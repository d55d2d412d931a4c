"""End to end over HTTP: a real ``qahub serve`` subprocess on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.server import CollectorServer


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[CollectorServer]:
    server = CollectorServer(tmp_path / "collector", database_url=database_url)
    server.start()
    yield server
    server.stop()


def test_results_round_trip_over_http(server: CollectorServer) -> None:
    server.create_case("TC-001", "Login")
    server.create_case("TC-002", "Logout")
    run_id = server.create_run("nightly")
    body = {
        "results": [
            {"test_case_code": "TC-001", "status": "PASSED", "duration_ms": 1240, "framework": "playwright"},
            {"test_case_code": "TC-002", "status": "FAILED", "error_message": "Expected 'Welcome'"},
            {"test_case_code": "TC-003", "status": "PASSED"},
        ]
    }
    response = server.session.post(f"{server.api}/runs/{run_id}/results", json=body, timeout=10)
    assert response.status_code == 207
    assert [e["index"] for e in response.json()["errors"]] == [2]
    rows = {r["test_case_code"]: r for r in server.results(run_id)}
    assert rows.keys() == {"TC-001", "TC-002"}
    assert rows["TC-002"]["error_message"] == "Expected 'Welcome'"


def test_hostile_requests_get_4xx_and_leave_no_traceback(server: CollectorServer) -> None:
    run_id = server.create_run()
    url = f"{server.api}/runs/{run_id}/results"
    json_header = {"Content-Type": "application/json"}
    attempts = [
        server.session.post(url, data=b"\xff\xfe\x00garbage", headers=json_header, timeout=10),
        server.session.post(url, data=b"[" * 100_000, headers=json_header, timeout=10),
        server.session.post(
            url, data=b'{"results": [{"status": "PASSED"}]}', headers={"Content-Type": "text/xml"}
        ),
        server.session.post(url, json={"results": [{"test_case_code": "\ud800", "status": "PASSED"}]}),
        server.session.get(f"{server.api}/runs/{'x' * 5000}", timeout=10),
        server.session.patch(f"{server.api}/runs/{run_id}", data=b"{}", headers=json_header, timeout=10),
    ]
    for response in attempts:
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"status", "code", "message"}
    # A header waitress itself refuses never reaches the app: plain-text 400 from the HTTP layer.
    bad_header = requests.get(f"{server.api}/runs", headers={"Authorization": "Bearer \x01\x02"}, timeout=10)
    assert bad_header.status_code == 400
    assert "Traceback" not in server.server_log()


def test_a_restarted_server_keeps_every_acknowledged_result(server: CollectorServer) -> None:
    server.create_case("TC-1")
    run_id = server.create_run()
    body = {"results": [{"test_case_code": "TC-1", "status": "PASSED"}]}
    assert (
        server.session.post(f"{server.api}/runs/{run_id}/results", json=body, timeout=10).status_code == 201
    )
    server.stop(kill=True)
    server.start()
    assert [r["status"] for r in server.results(run_id)] == ["PASSED"]
