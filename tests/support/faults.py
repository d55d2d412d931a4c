"""A fault-injecting HTTP proxy on loopback, for reliability and delivery tests.

The proxy forwards every request to an upstream collector and, deterministically on every
``every``-th request, injects one fault:

- ``"503"``: answer 503 with ``Retry-After: 1`` without forwarding;
- ``"reset"``: reset the TCP connection (RST, no answer). Odd-numbered resets happen before
  forwarding (the collector never saw the request), even-numbered ones after the collector
  answered (the request was applied but the client never learns it) — the case that tests
  idempotence;
- ``"delay"``: forward, then hold the answer for ``delay`` seconds (longer than the client's
  read timeout), so the client gives up on a request the collector applied;
- ``"none"``: forward everything (a baseline).

A closed port (connection refused) needs no proxy: see :func:`closed_port_url`.

Bounded: at most ``MAX_CLIENTS`` connections are served at once, every upstream call has a
timeout, and closing the proxy releases every held answer at once.
"""

from __future__ import annotations

import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import orjson
import requests

Mode = Literal["none", "503", "reset", "delay"]
MODES: tuple[Mode, ...] = ("none", "503", "reset", "delay")
HOP_HEADERS = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}
MAX_CLIENTS = 32
UPSTREAM_TIMEOUT_S = 30.0


def closed_port_url() -> str:
    """Return a loopback URL nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # held answers are released by the proxy's close event instead

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)

    def process_request(self, request: socket.socket, client_address: tuple) -> None:
        if not self.slots.acquire(timeout=UPSTREAM_TIMEOUT_S):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: socket.socket, client_address: tuple) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class FaultProxy:
    """Forwards to ``upstream`` and injects ``mode`` on every ``every``-th request."""

    def __init__(self, upstream: str, mode: Mode = "503", *, every: int = 3, delay: float = 20.0) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.upstream = upstream.rstrip("/")
        self.mode = mode
        self.every = every
        self.delay = delay
        self.requests = 0
        self.failures = 0
        self.forwarded_results = 0  # result items the upstream accepted through the proxy
        self.applied_unanswered = 0  # requests the upstream applied whose answer was dropped
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._server = _Server(self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and release every held answer."""
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()

    def _count(self) -> int:
        """Count a request; return its fault number (1, 2, ...) or 0 when it passes."""
        with self._lock:
            self.requests += 1
            if self.mode == "none" or self.requests % self.every:
                return 0
            self.failures += 1
            return self.failures

    def _record(self, path: str, body: bytes, status: int, answered: bool) -> None:
        with self._lock:
            if path.endswith("/results") and 200 <= status < 300:
                self.forwarded_results += len(orjson.loads(body)["results"])
            if not answered:
                self.applied_unanswered += 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real collector offers

            def log_message(self, format: str, *args: object) -> None:
                """Keep test output quiet."""

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy._count()
                if fault and proxy.mode == "503":
                    payload = b'{"error": {"status": 503, "code": "unavailable", "message": "injected"}}'
                    self._answer(503, payload, {"Retry-After": "1", "Content-Type": "application/json"})
                    return
                if fault and proxy.mode == "reset" and fault % 2:
                    self._reset()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                response = requests.request(
                    self.command, proxy.upstream + self.path, data=body, headers=headers,
                    timeout=UPSTREAM_TIMEOUT_S,
                )  # fmt: skip
                dropped = bool(fault) and proxy.mode in ("reset", "delay")
                if self.command == "POST":
                    proxy._record(self.path, body, response.status_code, answered=not dropped)
                if fault and proxy.mode == "reset":
                    self._reset()
                    return
                if fault and proxy.mode == "delay" and proxy._closed.wait(proxy.delay):
                    self._reset()  # the proxy is closing: never answer a held request
                    return
                content_type = response.headers.get("Content-Type", "application/json")
                extra = {"Content-Type": content_type}
                if "Retry-After" in response.headers:
                    extra["Retry-After"] = response.headers["Retry-After"]
                self._answer(response.status_code, response.content, extra)

            def _reset(self) -> None:
                # SO_LINGER 0 makes close() send RST instead of FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

        return Handler


class FlakyProxy(FaultProxy):
    """The 503 proxy of the plugin's delivery tests: every ``every``-th request is a 503."""

    def __init__(self, upstream: str, every: int = 3) -> None:
        super().__init__(upstream, "503", every=every)
