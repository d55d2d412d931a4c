"""Limits that protect the collector: body size at waitress, stalled clients, a write rate limit."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from collector.config import Settings
from tests.conftest import make_api
from tests.reliability.conftest import ServerFactory, make_codes, rows_by_code
from tests.support.server import CollectorServer

MAX_BODY = 65_536
ATTACHMENT_MAX = 4096
WAITRESS_LIMIT = ATTACHMENT_MAX * 4 + 1024 * 1024  # what ``qahub serve`` gives waitress here


def test_the_rate_limit_is_off_by_default(sqlite_url: str, tmp_path: Path) -> None:
    assert Settings().rate_limit_writes == 0
    api = make_api(sqlite_url, tmp_path / "files")
    assert {api.post("/runs", json={"name": str(n)}).status_code for n in range(30)} == {201}


def test_writes_over_the_limit_get_429_with_retry_after(sqlite_url: str, tmp_path: Path) -> None:
    api = make_api(sqlite_url, tmp_path / "files", rate_limit_writes=0.5, rate_limit_burst=2)
    assert [api.post("/runs", json={}).status_code for _ in range(2)] == [201, 201]
    refused = api.post("/runs", json={})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "2"
    assert refused.json["error"]["code"] == "too_many_requests"
    assert set(refused.json["error"]) == {"status", "code", "message"}
    # Reads are not limited; another token has its own bucket; a bad token is still 401.
    assert api.get("/runs").status_code == 200
    assert api.post("/runs", token=api.token_for(), json={}).status_code == 201
    assert api.post("/runs", token="qh_abcdefgh_" + "x" * 43, json={}).status_code == 401


def raw_exchange(server: CollectorServer, head: str, body: bytes = b"") -> bytes:
    """Send a request head (and maybe part of a body); return the answer read within 10 s."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < 200:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


@pytest.fixture
def small_limits(start_server: ServerFactory) -> CollectorServer:
    return start_server(
        "limits", QAHUB_MAX_BODY_BYTES=str(MAX_BODY), ATTACHMENT_MAX_BYTES=str(ATTACHMENT_MAX)
    )


def test_waitress_refuses_a_body_over_its_limit_before_the_app_reads_it(
    small_limits: CollectorServer,
) -> None:
    run_id = small_limits.create_run()
    head = (
        f"POST /api/v1/runs/{run_id}/results HTTP/1.1\nHost: x\n"
        f"Authorization: Bearer {small_limits.token}\nContent-Type: application/json\n"
        f"Content-Length: {WAITRESS_LIMIT + 1}\n"
    )
    # Only the head is sent: an answer at all proves nobody waited for the body.
    answer = raw_exchange(small_limits, head)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"error"' not in answer  # waitress's own page: the app never saw the request


def test_stalled_clients_do_not_hold_the_worker_threads(small_limits: CollectorServer) -> None:
    host, port = small_limits.url.removeprefix("http://").split(":")
    stalled = []
    try:
        for _ in range(24):  # three times the server's threads, each a request cut short
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(b"POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            stalled.append(sock)
        # Well under the 60 s channel timeout that would free the threads if they were held.
        response = small_limits.session.get(f"{small_limits.api}/runs", timeout=20)
        assert response.status_code == 200
    finally:
        for sock in stalled:
            sock.close()


SUITE = """
import pytest

@pytest.mark.parametrize("n", range(30))
def test_limited(n):
    assert n % 6, "a multiple of six"
"""


def test_the_plugin_honours_429_and_delivers_everything(
    start_server: ServerFactory, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server("ratelimited", QAHUB_RATE_LIMIT_WRITES="2", QAHUB_RATE_LIMIT_BURST="1")
    make_codes(server, "RL", 30)
    run_id = server.create_run("rate limited")
    monkeypatch.setenv("QAHUB_TOKEN", server.token)
    pytester.makeconftest(
        "def pytest_qahub_test_case(item):\n    return 'RL-%03d' % item.callspec.params['n']\n"
    )
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--qahub-run={run_id}", f"--qahub-url={server.url}",
        "--qahub-batch-size=5", "--qahub-flush-timeout=60", timeout=120,
    )  # fmt: skip
    result.assert_outcomes(passed=25, failed=5)
    result.stdout.fnmatch_lines(["sent 30, rejected 0, waiting in journal 0*"])
    rows = rows_by_code(server, run_id)
    assert len(rows) == 30
    assert sum(row["status"] == "FAILED" for row in rows.values()) == 5
    assert "429 Too Many Requests" in server.server_log()
