"""A real ``qahub serve`` under slow clients, behind a proxy, and stopped with SIGTERM.

Deadlines are shortened here (``QAHUB_HEADER_TIMEOUT=1``) so that clients holding connections
are dealt with in a second; ``bench/hostile.py`` measures the same at full scale and defaults.
"""

from __future__ import annotations

import re
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.server import CollectorServer
from tests.support.waiting import wait_until

LISTING_RESULTS = 20
STACK_BYTES = 400_000  # 20 results of 400 kB: an 8 MB listing, far more than socket buffers hold


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    """Start ``qahub serve`` processes with given options; every one is killed at the end."""
    started: list[CollectorServer] = []

    def start(*args: str, name: str = "collector", **env: str) -> CollectorServer:
        server = CollectorServer(tmp_path / name, extra_env=env, args=args)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(kill=True)


def address(server: CollectorServer) -> tuple[str, int]:
    parts = urlsplit(server.url)
    return parts.hostname, parts.port


def connect(server: CollectorServer, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect(address(server))
    return sock


def is_closed(sock: socket.socket, trickle: bytes = b"") -> bool:
    """Send ``trickle`` (a slow client's next byte), then tell whether the server hung up."""
    try:
        if trickle:
            sock.send(trickle)
        sock.setblocking(False)
        try:
            return sock.recv(65536) == b""
        except BlockingIOError:
            return False
        finally:
            sock.setblocking(True)
    except OSError:
        return True  # reset or broken pipe: closed


def big_listing(server: CollectorServer) -> str:
    """A run whose results listing is about 8 MB; return its path."""
    codes = [f"BIG-{n}" for n in range(LISTING_RESULTS)]
    for code in codes:
        server.create_case(code)
    run_id = server.create_run("big")
    stack = "x" * STACK_BYTES
    items = [{"test_case_code": code, "status": "FAILED", "error_stack": stack} for code in codes]
    response = server.session.post(f"{server.api}/runs/{run_id}/results", json={"results": items}, timeout=60)
    assert response.status_code == 201, response.text[:300]
    return f"/api/v1/runs/{run_id}/results"


def stalled_get(server: CollectorServer, path: str) -> socket.socket:
    """Ask for ``path`` from a client that then reads nothing (its receive buffer is 4 KiB)."""
    sock = connect(server, receive_buffer=4096)
    head = f"GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {server.token}\r\n\r\n"
    sock.sendall(head.encode())
    return sock


def access_lines(server: CollectorServer, fragment: str) -> list[str]:
    return [
        line for line in server.server_log().splitlines() if "collector.access" in line and fragment in line
    ]


def test_a_client_trickling_its_request_head_is_disconnected(serve) -> None:
    server = serve(QAHUB_HEADER_TIMEOUT="1")
    sock = connect(server)
    sock.sendall(b"G")

    wait_until(lambda: is_closed(sock, trickle=b"E"), timeout=15, what="the trickling client cut off")

    sock.close()
    assert "not sending a complete request head within 1 s" in server.server_log()
    assert server.session.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_a_connection_that_never_sends_a_request_is_closed(serve) -> None:
    server = serve(QAHUB_HEADER_TIMEOUT="1")
    sock = connect(server)

    wait_until(lambda: is_closed(sock), timeout=15, what="the silent connection closed")
    sock.close()


def test_trickling_clients_beyond_the_connection_limit_leave_others_served(serve) -> None:
    server = serve("--connection-limit", "20", QAHUB_HEADER_TIMEOUT="1")
    stop = threading.Event()

    def attacker() -> None:
        # 40 clients, each sending a byte of a request head every 0.2 s; a client cut off
        # connects again at once, as an attacker would.
        clients: list[socket.socket | None] = [None] * 40
        while not stop.is_set():
            for index, sock in enumerate(clients):
                if sock is None or is_closed(sock, trickle=b"G"):
                    if sock is not None:
                        sock.close()
                    try:
                        clients[index] = connect(server)
                    except OSError:
                        clients[index] = None
            stop.wait(0.2)
        for sock in clients:
            if sock is not None:
                sock.close()

    thread = threading.Thread(target=attacker, daemon=True)
    thread.start()
    try:
        statuses = [requests.get(f"{server.url}/healthz", timeout=15).status_code for _ in range(5)]
    finally:
        stop.set()
        thread.join(timeout=30)

    assert statuses == [200] * 5
    assert "not sending a complete request head" in server.server_log()


def test_slow_readers_of_a_big_listing_hold_no_worker_thread(serve) -> None:
    server = serve("--threads", "2", QAHUB_HEADER_TIMEOUT="120")
    path = big_listing(server)
    readers = [stalled_get(server, path) for _ in range(4)]  # twice as many as worker threads
    try:
        # Each listing is produced and handed to the server's spool while its reader reads nothing.
        wait_until(
            lambda: len(access_lines(server, f'"GET {path}" 200')) == 4,
            timeout=60,
            what="every listing produced while its reader stalls",
        )
        health = server.session.get(f"{server.url}/healthz", timeout=10)
        runs = server.session.get(f"{server.api}/runs", timeout=10)
    finally:
        for sock in readers:
            sock.close()

    assert health.status_code == 200 and runs.status_code == 200
    listed = access_lines(server, f'"GET {path}" 200')
    sizes = [int(re.search(r" 200 (\d+) B ", line).group(1)) for line in listed]
    assert min(sizes) > LISTING_RESULTS * STACK_BYTES


def test_a_client_that_stops_reading_its_response_is_disconnected(serve) -> None:
    server = serve(QAHUB_HEADER_TIMEOUT="1", QAHUB_MIN_RATE="65536")
    path = big_listing(server)
    sock = stalled_get(server, path)
    wait_until(lambda: access_lines(server, f'"GET {path}"'), timeout=30, what="the listing produced")

    wait_until(
        lambda: "reading its response too slowly" in server.server_log(),
        timeout=30,
        what="the reader cut off",
    )

    received = 0
    with pytest.raises(ConnectionResetError):  # the server reset it: nothing more is on its way
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
    sock.close()
    assert received < LISTING_RESULTS * STACK_BYTES


def sign_in_cookie(server: CollectorServer, **headers: str) -> str:
    """Sign in to the web page through ``server``; return the session's Set-Cookie header."""
    browser = requests.Session()
    form = browser.get(f"{server.url}/login", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    response = browser.post(
        f"{server.url}/login",
        data={"csrf": csrf, "token": server.token, "next": "/"},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303, response.text[:300]
    return response.headers["Set-Cookie"]


def test_the_session_cookie_is_secure_behind_a_trusted_proxy(serve) -> None:
    server = serve("--trusted-proxy", "127.0.0.1")

    assert "Secure" in sign_in_cookie(server, **{"X-Forwarded-Proto": "https"})
    assert "Secure" not in sign_in_cookie(server)


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(serve) -> None:
    server = serve(QAHUB_TRUSTED_PROXY="10.9.8.7")

    assert "Secure" not in sign_in_cookie(server, **{"X-Forwarded-Proto": "https"})


def send_head_awaiting_continue(server: CollectorServer, run_id: str, body: bytes) -> socket.socket:
    """Send a results POST's head only; return once the server has read it (``100 Continue``)."""
    sock = connect(server)
    head = (
        f"POST /api/v1/runs/{run_id}/results HTTP/1.1\r\nHost: test\r\n"
        f"Authorization: Bearer {server.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    )
    sock.sendall(head.encode())
    assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
    return sock


def test_sigterm_finishes_the_request_in_progress_then_exits_0(serve) -> None:
    server = serve(QAHUB_SHUTDOWN_GRACE="30")
    server.create_case("TC-1")
    run_id = server.create_run()
    body = b'{"results": [{"test_case_code": "TC-1", "status": "PASSED"}]}'
    sock = send_head_awaiting_continue(server, run_id, body)

    server.process.send_signal(signal.SIGTERM)
    wait_until(lambda: "Stopping" in server.server_log(), timeout=15, what="the stop begun")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address(server), timeout=5)  # no new connections
    sock.sendall(body)
    answer = sock.recv(65536)
    sock.close()

    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert server.process.wait(timeout=30) == 0
    assert "every request in progress finished" in server.server_log()
    server.stop()  # reaps the exited process and closes its pipe


def test_sigterm_cuts_off_what_outlasts_the_grace_and_still_exits_0(serve) -> None:
    server = serve(QAHUB_SHUTDOWN_GRACE="0.5")
    run_id = server.create_run()
    sock = send_head_awaiting_continue(server, run_id, b"{}")  # the body never comes

    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(timeout=30) == 0
    sock.close()
    assert "Stopped after the 0.5 s grace with 1 request(s) unfinished" in server.server_log()
    server.stop()


def test_the_access_log_has_one_line_per_request_and_no_secret(serve) -> None:
    server = serve()
    server.session.get(f"{server.api}/runs", params={"limit": "5", "token": "hunter2"}, timeout=10)
    requests.get(f"{server.api}/runs%0Aforged%20line", timeout=10)

    wait_until(lambda: len(access_lines(server, "/api/v1/runs")) >= 2, timeout=10, what="two lines logged")
    lines = access_lines(server, "/api/v1/runs")
    prefix = server.token.split("_")[1]
    assert re.search(rf'"GET /api/v1/runs\?limit=5&token=…" 200 \d+ B [\d.]+ ms token={prefix}$', lines[0])
    assert re.search(r'"GET /api/v1/runs\\x0aforged line" 404 \d+ B [\d.]+ ms token=-$', lines[1])
    log = server.server_log()
    assert server.token.split("_", 2)[2] not in log and "hunter2" not in log
    assert not any(line.startswith("forged") for line in log.splitlines())


def test_log_level_warning_leaves_the_access_log_out(serve) -> None:
    server = serve("--log-level", "warning")
    server.session.get(f"{server.api}/runs", timeout=10)
    server.stop()  # the log is complete once the process has exited

    assert "collector.access" not in server.server_log()
