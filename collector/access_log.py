"""The access log of ``qahub serve``: one line per request, never a secret.

A line reads ``203.0.113.9 "GET /api/v1/runs?limit=50" 200 1234 B 12.3 ms token=ab12cd34``:
client address, method, path (query values shown only for parameters known to hold none),
status, body bytes, the time the app took to produce the response, and the prefix of the
token it authenticated (``-`` for none). The prefix names a token in ``qahub token list``;
the secret is never written, nor any value a client sends in an unknown parameter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import parse_qsl

log = logging.getLogger("collector.access")

#: Set in the WSGI environment by whatever authenticated the request (a token or a session).
TOKEN_PREFIX_KEY = "qahub.token_prefix"
#: Query parameters whose values are logged as sent; any other value is logged as "…".
PLAIN_PARAMETERS = frozenset({"status", "limit", "offset", "page", "base", "q"})
MAX_PATH_CHARS = 200
MAX_PARAMETERS = 10


def _printable(text: str, limit: int) -> str:
    # PATH_INFO is decoded: a client's %0A would otherwise start a forged log line.
    shown = "".join(c if c.isprintable() and c != '"' else f"\\x{ord(c):02x}" for c in text[:limit])
    return shown + ("…" if len(text) > limit else "")


def _wsgi_text(value: str) -> str:
    """WSGI strings are bytes decoded as latin-1; show the UTF-8 a client actually sent."""
    return value.encode("latin-1", "replace").decode("utf-8", "replace")


def request_target(environ: dict) -> str:
    """The path and query to log: control characters escaped, unknown values elided."""
    path = _wsgi_text(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
    path = _printable(path, MAX_PATH_CHARS)
    query = environ.get("QUERY_STRING", "")
    if not query:
        return path
    pairs = parse_qsl(_wsgi_text(query), keep_blank_values=True)
    shown = [
        f"{_printable(name, 40)}={_printable(value, 40) if name in PLAIN_PARAMETERS else '…'}"
        for name, value in pairs[:MAX_PARAMETERS]
    ]
    if len(pairs) > MAX_PARAMETERS:
        shown.append("…")
    return f"{path}?{'&'.join(shown)}"


def _write(environ: dict, status: str, size: int, started: float) -> None:
    log.info(
        '%s "%s %s" %s %d B %.1f ms token=%s',
        environ.get("REMOTE_ADDR", "-"),
        _printable(environ.get("REQUEST_METHOD", "-"), 20),
        request_target(environ),
        status,
        size,
        (time.perf_counter() - started) * 1000,
        environ.get(TOKEN_PREFIX_KEY, "-"),
    )


class _LoggedBody:
    """A streamed response body that counts its bytes and logs the request once it is done."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]) -> None:
        self.body = body
        self.done = done
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.size += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done(self.size)


class AccessLog:
    """WSGI middleware writing one access-log line per request."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        seen: dict[str, object] = {"status": "-", "length": None}

        def recording_start_response(status: str, headers: list, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            for name, value in headers:
                if name.lower() == "content-length" and value.isdigit():
                    seen["length"] = int(value)
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            _write(environ, "500", 0, started)
            raise
        if isinstance(body, list | tuple):  # a body already built: its size is known now
            _write(environ, str(seen["status"]), sum(len(chunk) for chunk in body), started)
            return body
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None and isinstance(body, wrapper):
            # A file the server sends by itself; wrapping it would make a worker thread copy it.
            _write(environ, str(seen["status"]), int(seen["length"] or 0), started)
            return body
        return _LoggedBody(body, lambda size: _write(environ, str(seen["status"]), size, started))
