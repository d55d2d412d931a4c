"""The HTTP transport against a scripted server on loopback: retries, Retry-After, timeouts, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from pytest_qahub.delivery.http import HttpTransport
from pytest_qahub.errors import (
    AuthError,
    ClientError,
    Conflict,
    ConnectionFailed,
    NotFound,
    ProtocolError,
    QAHubError,
    ServerError,
)
from tests.support.faults import closed_port_url
from tests.support.waiting import wait_until


class ScriptedServer:
    """Answers each request with the next scripted (status, body, headers); records requests."""

    def __init__(self) -> None:
        self.script: list[tuple[int, bytes, dict[str, str]]] = []
        self.seen: list[tuple[str, str, float]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.seen.append((self.command, self.path, time.monotonic()))
                status, body, headers = server.script.pop(0)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, status: int, body: object = None, **headers: str) -> None:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        self.script.append((status, raw, {"Content-Type": "application/json", **headers}))


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    thread = threading.Thread(target=server.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def error(status: int, code: str, message: str) -> dict[str, object]:
    return {"error": {"status": status, "code": code, "message": message}}


def test_it_retries_a_503_and_a_500_on_a_post(server: ScriptedServer) -> None:
    server.add(503, error(503, "unavailable", "busy"))
    server.add(500, error(500, "internal", "oops"))
    server.add(201, {"data": [{"id": "r1"}], "errors": []})
    transport = HttpTransport(server.url, "qh_t", backoff=0.01)
    outcome = transport.post_results("run", [{"test_case_code": "A", "status": "PASSED"}])
    assert (outcome.status, outcome.accepted) == (201, [{"id": "r1"}])
    assert [method for method, _, _ in server.seen] == ["POST"] * 3


def test_it_honours_retry_after_on_429(server: ScriptedServer) -> None:
    server.add(429, error(429, "too_many_requests", "slow down"), **{"Retry-After": "1"})
    server.add(200, {"data": {"id": "run"}})
    HttpTransport(server.url, "qh_t", backoff=0.01).get_run("run")
    first, second = server.seen[0][2], server.seen[1][2]
    assert second - first >= 0.9


def test_after_the_retries_a_5xx_is_a_server_error(server: ScriptedServer) -> None:
    for _ in range(3):
        server.add(502, b"<html>bad gateway</html>")
    transport = HttpTransport(server.url, "qh_t", retries=2, backoff=0.01)
    with pytest.raises(ServerError) as raised:
        transport.get_run("run")
    assert raised.value.status == 502
    assert "bad gateway" in raised.value.message


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, AuthError), (403, AuthError), (404, NotFound), (409, Conflict), (400, ClientError)],
)
def test_client_errors_map_to_one_exception_each_and_are_not_retried(
    server: ScriptedServer, status: int, kind: type[QAHubError]
) -> None:
    server.add(status, error(status, "some_code", "the message"))
    with pytest.raises(kind) as raised:
        HttpTransport(server.url, "qh_t").get_run("run")
    assert isinstance(raised.value, QAHubError)
    assert (raised.value.code, raised.value.message) == ("some_code", "the message")  # type: ignore[attr-defined]
    assert len(server.seen) == 1


def test_a_response_that_is_not_the_api_is_a_protocol_error(server: ScriptedServer) -> None:
    server.add(200, b"<html>captive portal</html>")
    with pytest.raises(ProtocolError):
        HttpTransport(server.url, "qh_t").get_run("run")


def test_a_207_returns_the_accepted_and_rejected_items(server: ScriptedServer) -> None:
    errors = [{"index": 1, "test_case_code": "B", "message": "no such case"}]
    server.add(207, {"data": [{"id": "r1"}], "errors": errors})
    outcome = HttpTransport(server.url, "qh_t").post_results("run", [{}, {}])
    assert (outcome.status, outcome.errors) == (207, errors)


def test_it_follows_the_pages_of_cases(server: ScriptedServer) -> None:
    cases = [{"code": f"TC-{n}"} for n in range(3)]
    server.add(200, {"data": cases[:2], "pagination": {"total": 3, "limit": 500, "offset": 0}})
    server.add(200, {"data": cases[2:], "pagination": {"total": 3, "limit": 500, "offset": 2}})
    assert HttpTransport(server.url, "qh_t").case_codes() == {"TC-0", "TC-1", "TC-2"}
    assert [path for _, path, _ in server.seen] == [
        "/api/v1/cases?limit=500&offset=0",
        "/api/v1/cases?limit=500&offset=2",
    ]


def test_a_server_that_does_not_answer_times_out() -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts connections, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        transport = HttpTransport(url, "qh_t", read_timeout=0.2, retries=1, backoff=0.01)
        started = time.monotonic()
        with pytest.raises(ConnectionFailed):
            transport.get_run("run")
        assert time.monotonic() - started < 5


def test_a_closed_port_is_a_connection_failure_naming_the_cause() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = HttpTransport(f"http://127.0.0.1:{port}", None, retries=1, backoff=0.01)
    with pytest.raises(ConnectionFailed, match="Connection refused"):
        transport.me()


def test_it_goes_through_the_proxy_the_environment_names(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    server.add(200, {"data": {"id": "R"}})
    assert HttpTransport("http://qahub.invalid", "t").get_run("R") == {"id": "R"}
    assert server.seen[0][1] == "http://qahub.invalid/api/v1/runs/R"  # a proxy's request line


def test_a_host_in_no_proxy_is_reached_directly(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", closed_port_url())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server.add(200, {"data": {"id": "R"}})
    assert HttpTransport(server.url, "t").get_run("R") == {"id": "R"}
    assert server.seen[0][1] == "/api/v1/runs/R"


def test_a_missing_ca_bundle_does_not_matter_over_plain_http(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "no-such-bundle.pem"))
    server.add(200, {"data": {"id": "R"}})
    assert HttpTransport(server.url, "t").get_run("R") == {"id": "R"}


def test_a_ca_bundle_gone_after_the_start_is_a_connection_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("not read before it is gone\n")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    transport = HttpTransport(closed_port_url().replace("http:", "https:"), "t", retries=0)
    bundle.unlink()
    with pytest.raises(ConnectionFailed, match="CA certificate bundle"):
        transport.get_run("R")


def test_ids_travel_as_one_path_segment(server: ScriptedServer) -> None:
    server.add(200, {"data": {"id": "R"}})
    server.add(201, {"data": [], "errors": []})
    transport = HttpTransport(server.url, "t")
    transport.get_run("R?x#y%2F")
    transport.post_results("R x", [{"test_case_code": "A", "status": "PASSED"}])
    paths = [path for _, path, _ in server.seen]
    assert paths == ["/api/v1/runs/R%3Fx%23y%252F", "/api/v1/runs/R%20x/results"]


@pytest.mark.parametrize("run_id", ["R/", "../runs/R"])
def test_an_id_with_a_slash_names_nothing_and_is_not_sent(server: ScriptedServer, run_id: str) -> None:
    with pytest.raises(NotFound):
        HttpTransport(server.url, "t").get_run(run_id)
    assert server.seen == []


def test_while_it_waits_to_retry_it_says_why_and_for_how_long(server: ScriptedServer) -> None:
    server.add(429, error(429, "too_many_requests", "slow down"), **{"Retry-After": "1"})
    server.add(200, {"data": {"id": "R"}})
    transport = HttpTransport(server.url, "qh_t")
    seen: list[str] = []
    request = threading.Thread(target=lambda: seen.append(transport.get_run("R")["id"]))
    request.start()
    wait_until(lambda: transport.activity() == "the collector answered 429, retrying in 1 s", what="activity")
    request.join(10)
    assert seen == ["R"]
    assert transport.activity() is None
