"""A tiny HTTP proxy on 127.0.0.1 that fails every n-th request with 503, for delivery tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import requests

HOP_HEADERS = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}


class FlakyProxy:
    """Forwards to upstream; answers 503 (Retry-After: 1) to every `every`-th request."""

    def __init__(self, upstream: str, every: int = 3) -> None:
        self.upstream = upstream.rstrip("/")
        self.every = every
        self.requests = 0
        self.failures = 0
        self.forwarded_results = 0  # result items the upstream accepted through us
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _count(self) -> bool:
        """Count a request; True when this one must fail."""
        with self._lock:
            self.requests += 1
            fail = self.requests % self.every == 0
            self.failures += fail
            return fail

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Keep test output quiet."""

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy._count():
                    self._answer(503, b'{"error": {"status": 503, "message": "flaky"}}', {"Retry-After": "1"})
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                response = requests.request(
                    self.command,
                    proxy.upstream + self.path,
                    data=body,
                    headers=headers,
                    timeout=30,
                )
                if self.command == "POST" and self.path.endswith("/results") and response.ok:
                    with proxy._lock:
                        proxy.forwarded_results += len(orjson.loads(body)["results"])
                content_type = response.headers.get("Content-Type", "application/json")
                self._answer(response.status_code, response.content, {"Content-Type": content_type})

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = _forward

        return Handler
