"""The guarded waitress server driven one loop turn at a time, in this process.

``qahub serve`` runs the same loop on its own; stepping it by hand puts a connection cut for
being late and a new connection in the very same turn, which a running server does only
now and then, under attack.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.task import ThreadedTaskDispatcher

from collector.connections import ClientDeadlines, GuardedServer
from tests.support.waiting import wait_until

HEADER_TIMEOUT_S = 0.2


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


@pytest.fixture
def server() -> Iterator[GuardedServer]:
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(1)
    adj = Adjustments(host="127.0.0.1", port=0, cleanup_interval=3600)
    guarded = GuardedServer(
        hello,
        deadlines=ClientDeadlines(HEADER_TIMEOUT_S, min_rate=1024),
        map={},
        dispatcher=dispatcher,
        adj=adj,
    )
    yield guarded
    guarded.close()
    for channel in list(guarded._map.values()):
        channel.close()
    dispatcher.shutdown(timeout=5)


def turn(server: GuardedServer, maintenance: bool = False) -> None:
    """One turn of the server's loop; with ``maintenance`` its deadlines are checked in it."""
    if maintenance:
        server.next_channel_cleanup = 0
    wasyncore.poll2(timeout=0.05, map=server._map)


def client(server: GuardedServer) -> socket.socket:
    return socket.create_connection((server.effective_host, server.effective_port), timeout=10)


def test_a_connection_accepted_in_the_turn_that_cut_a_late_one_is_served(server) -> None:
    late = client(server)
    wait_until(lambda: turn(server) or server.active_channels, what="the late client accepted")
    (late_channel,) = server.active_channels.values()
    freed = late_channel.socket.fileno()
    # Every descriptor below the late one's is taken, so the next accept reuses the late one's.
    fillers = []
    while (fd := os.open(os.devnull, os.O_RDONLY)) < freed:
        fillers.append(fd)
    os.close(fd)
    try:
        wait_until(
            lambda: late_channel.overdue(time.monotonic(), server.deadlines), what="the late client overdue"
        )
        punctual = client(server)
        punctual.sendall(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")

        turn(server, maintenance=True)  # the late one is cut, the punctual one accepted

        assert late_channel.socket is None
        (channel,) = server.active_channels.values()
        assert channel.socket.fileno() == freed
        received = b""

        def answered() -> bool:
            nonlocal received
            turn(server)
            received += _available(punctual)
            return received.endswith(b"hello")

        wait_until(answered, what="the punctual client answered")
        assert received.startswith(b"HTTP/1.1 200 OK")
        punctual.close()
    finally:
        for fd in fillers:
            os.close(fd)
        late.close()


def _available(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return b""
    finally:
        sock.setblocking(True)
