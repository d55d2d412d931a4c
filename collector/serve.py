"""``qahub serve``: the collector over HTTP (waitress), safe to face slow and hostile clients.

What it adds to a plain waitress server:

- deadlines on slow clients (:mod:`collector.connections`) and a connection limit in the
  thousands, so clients trickling bytes cannot take every connection;
- responses spooled to a temporary file while a client reads them, so a slow reader holds
  neither a worker thread nor more than a little memory;
- a trusted reverse proxy (``--trusted-proxy``), so a session cookie is ``Secure`` behind TLS;
- an access log (:mod:`collector.access_log`) and a log level;
- a graceful stop on SIGTERM or Ctrl-C: no new connections, requests in progress finish
  within ``--shutdown-grace`` seconds, exit code 0.

Options come from the command line, else from the environment (``QAHUB_…``), else defaults.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import time
from collections.abc import Callable
from typing import Literal, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.task import ThreadedTaskDispatcher

from collector.access_log import AccessLog
from collector.config import MIB, Settings, env_names, from_environment
from collector.connections import ClientDeadlines, GuardedServer

log = logging.getLogger("collector.serve")

KIB = 1024
#: Bytes of a response kept in memory per connection; the rest waits in a temporary file.
OUTPUT_MEMORY = 256 * KIB
#: Bytes of a response waiting for a slow client before the worker thread producing it waits
#: too. Spooled to disk, so a 100,000-result listing (~40 MB) is written at once and the
#: thread moves on; a client too slow to read it meets its deadline instead.
OUTPUT_SPOOL = 128 * MIB
#: Bytes of a request body kept in memory before waitress spills it to a temporary file.
INPUT_MEMORY = 256 * KIB
MAX_HEADER_BYTES = 64 * KIB
#: File descriptors per connection at most: its socket, a spooled body, a spooled response.
FDS_PER_CONNECTION = 3
KNOWN_PROXY_HEADERS = (
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
)


class ServeSettings(BaseModel):
    """The server's options that may also come from the environment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    connection_limit: int = Field(default=2000, ge=10, le=100_000)
    header_timeout: float = Field(default=10.0, gt=0, le=3600)
    min_rate: int = Field(default=1024, ge=1)
    idle_timeout: int = Field(default=60, ge=1, le=86_400)
    trusted_proxy: str | None = None
    trusted_proxy_headers: str = "x-forwarded-proto,x-forwarded-for"
    trusted_proxy_count: int = Field(default=1, ge=1, le=16)
    shutdown_grace: float = Field(default=20.0, ge=0, le=3600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("trusted_proxy_headers")
    @classmethod
    def _known_headers(cls, value: str) -> str:
        names = [name.strip().lower() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in KNOWN_PROXY_HEADERS]
        if unknown or not names:
            raise ValueError(f"give a comma-separated list of {', '.join(KNOWN_PROXY_HEADERS)}")
        if "forwarded" in names and len(names) > 1:
            raise ValueError("'forwarded' cannot be combined with the x-forwarded-* headers")
        return ",".join(names)


class ServeError(Exception):
    """``qahub serve`` cannot start with what it was given."""


def _bounded_int(low: int, high: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: {what} is {low}-{high}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Describe ``qahub serve``'s options."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=_bounded_int(0, 65535, "a port"),
        default=8080,
        help="port (default 8080; 0 picks a free one)",
    )
    parser.add_argument(
        "--threads", type=_bounded_int(1, 1024, "--threads"), default=8, help="worker threads (default 8)"
    )
    for name, kind, metavar, help_text in _OPTIONS:
        parser.add_argument(name, type=kind, metavar=metavar, help=help_text)


#: The options that may also come from the environment: flag, type, metavar, help.
_OPTIONS: list[tuple[str, Callable[[str], object], str, str]] = [
    ("--connection-limit", int, "N", "most open connections (default 2000; QAHUB_CONNECTION_LIMIT)"),
    (
        "--header-timeout",
        float,
        "SECONDS",
        "a client must send a request's head within this; a body or a response may take this "
        "plus 1 s per --min-rate bytes (default 10; QAHUB_HEADER_TIMEOUT)",
    ),
    ("--min-rate", int, "BYTES", "slowest bytes/s of a body or response (default 1024; QAHUB_MIN_RATE)"),
    ("--idle-timeout", int, "SECONDS", "close a connection idle this long (default 60; QAHUB_IDLE_TIMEOUT)"),
    (
        "--trusted-proxy",
        str,
        "ADDRESS",
        "the reverse proxy's address ('*' for any) whose forwarding headers to believe (QAHUB_TRUSTED_PROXY)",
    ),
    (
        "--trusted-proxy-headers",
        str,
        "LIST",
        "which of its headers (default x-forwarded-proto,x-forwarded-for; QAHUB_TRUSTED_PROXY_HEADERS)",
    ),
    ("--trusted-proxy-count", int, "N", "proxies chained in front (default 1; QAHUB_TRUSTED_PROXY_COUNT)"),
    (
        "--shutdown-grace",
        float,
        "SECONDS",
        "on SIGTERM, let requests in progress finish this long (default 20; QAHUB_SHUTDOWN_GRACE)",
    ),
    ("--log-level", str, "LEVEL", "DEBUG, INFO (access log), WARNING, ERROR (default INFO; QAHUB_LOG_LEVEL)"),
]


def serve_settings(args: argparse.Namespace) -> ServeSettings:
    """Resolve the options: command line, else environment, else default; explain a bad one."""
    names = ServeSettings.model_fields
    given = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    try:
        return ServeSettings(**{**from_environment(ServeSettings), **given})
    except ValidationError as ex:
        problems = []
        for error in ex.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            where = f"--{name.replace('_', '-')}" if name in given else env_names(name)[0]
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{where}={error.get('input')!r}: {message}")
        raise ServeError("; ".join(problems)) from ex


def _raise_open_file_limit(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted``; return the limit now in force."""
    try:
        import resource
    except ImportError:  # not POSIX: no such limit to raise
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as ex:
            log.warning("Cannot raise the open-file limit to %d: %s", target, ex)
    return soft


class Collector:
    """waitress servers on every address of ``--host``, sharing one pool of worker threads."""

    def __init__(
        self, app: Callable, args: argparse.Namespace, options: ServeSettings, body_limit: int
    ) -> None:
        proxy = (
            {
                "trusted_proxy": options.trusted_proxy,
                "trusted_proxy_headers": options.trusted_proxy_headers.replace(",", " "),
                "trusted_proxy_count": options.trusted_proxy_count,
            }
            if options.trusted_proxy
            else {}
        )
        try:
            self.adj = Adjustments(
                host=args.host,
                port=args.port,
                threads=args.threads,
                connection_limit=options.connection_limit,
                channel_timeout=options.idle_timeout,
                cleanup_interval=1,  # the deadlines are checked every second
                asyncore_use_poll=True,  # select() cannot watch descriptors past 1023
                max_request_body_size=body_limit,
                max_request_header_size=MAX_HEADER_BYTES,
                inbuf_overflow=INPUT_MEMORY,
                outbuf_overflow=OUTPUT_MEMORY,
                outbuf_high_watermark=OUTPUT_SPOOL,
                ident="qahub",
                **proxy,
            )
        except ValueError as ex:
            raise ServeError(f"cannot listen on {args.host}:{args.port}: {ex}") from ex
        self.map: dict = {}
        self.dispatcher = ThreadedTaskDispatcher()
        deadlines = ClientDeadlines(options.header_timeout, options.min_rate)
        self.servers: list[GuardedServer] = []
        try:
            for sockinfo in self.adj.listen:
                self.servers.append(
                    GuardedServer(
                        app,
                        deadlines=deadlines,
                        map=self.map,
                        dispatcher=self.dispatcher,
                        adj=self.adj,
                        sockinfo=sockinfo,
                    )
                )
        except OSError as ex:
            self.close()
            reason = ex.strerror or str(ex)
            raise ServeError(f"cannot listen on {args.host}:{args.port}: {reason}") from ex
        self.dispatcher.set_thread_count(self.adj.threads)
        self.stop_requested: float | None = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(s.effective_host, int(s.effective_port)) for s in self.servers]

    def request_stop(self, signum: int, frame: object = None) -> None:
        """Signal handler: the first signal starts a graceful stop, a second one ends the grace."""
        if self.stop_requested is None:
            self.stop_requested = time.monotonic()
        else:
            self.stop_requested = float("-inf")

    def run(self, grace: float) -> None:
        """Serve until asked to stop; then finish the requests in progress within ``grace``."""
        while self.stop_requested is None:
            wasyncore.loop(timeout=self.adj.asyncore_loop_timeout, map=self.map, use_poll=True, count=1)
        self._drain(grace)

    def _drain(self, grace: float) -> None:
        started = time.monotonic()
        for server in self.servers:
            server.accepting = False
            wasyncore.dispatcher.close(server)  # the listening socket only: the triggers stay
        log.info(
            "Stopping: no new connections; waiting up to %g s for %d request(s) in progress",
            grace,
            self._close_idle(),
        )
        while True:
            busy = self._close_idle()
            if not busy and not any(server.active_channels for server in self.servers):
                log.info("Stopped: every request in progress finished (%.1f s)", time.monotonic() - started)
                break
            if time.monotonic() - started > grace or self.stop_requested == float("-inf"):
                log.warning("Stopped after the %g s grace with %d request(s) unfinished", grace, busy)
                break
            wasyncore.loop(timeout=0.1, map=self.map, use_poll=True, count=1)
            for server in self.servers:
                server.close_overdue()
        self.close()

    def _close_idle(self) -> int:
        """Mark idle connections for closing; return how many have a request or response in progress."""
        busy = 0
        for server in self.servers:
            for channel in list(server.active_channels.values()):
                if channel.requests or channel.total_outbufs_len or channel.request is not None:
                    busy += 1
                else:
                    channel.will_close = True
        return busy

    def close(self) -> None:
        """Close every socket and stop the worker threads."""
        self.dispatcher.shutdown(cancel_pending=True, timeout=1)
        wasyncore.close_all(self.map)


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger().setLevel(level)


def command(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Run ``qahub serve`` until SIGTERM or Ctrl-C; return the exit code."""
    from collector.app import create_app
    from collector.attachments import upload_limits
    from collector.housekeeping import Housekeeper
    from collector.migrations import open_upgraded
    from collector.storage import open_storage

    options = serve_settings(args)
    _configure_logging(options.log_level)
    db = open_upgraded(settings)
    storage = open_storage(settings)
    app = AccessLog(create_app(settings, db, storage))
    body_limit = max(settings.max_body_bytes, upload_limits(settings).request_bytes)
    limit = _raise_open_file_limit(options.connection_limit * FDS_PER_CONNECTION + 64)
    if limit < options.connection_limit * FDS_PER_CONNECTION:
        log.warning(
            "The open-file limit (%d) is low for %d connections: raise it (ulimit -n) or lower "
            "--connection-limit",
            limit,
            options.connection_limit,
        )
    collector = Collector(app, args, options, body_limit)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, collector.request_stop)
    host, port = collector.addresses[0]
    shown = f"[{host}]" if ":" in host else host
    print(f"Serving on http://{shown}:{port}", file=out, flush=True)
    print(f"  API:      http://{shown}:{port}/api/v1  (OpenAPI: /api/v1/openapi.json)", file=out, flush=True)
    print(f"  Web:      http://{shown}:{port}/  (sign in with a read token)", file=out, flush=True)
    print(f"  Database: {settings.database_url}", file=out, flush=True)
    housekeeper = Housekeeper(settings, db, storage).start()  # retention and file removals
    # What start-up built lives as long as the server: out of the garbage collector's sight, a
    # full collection no longer walks it. Each one stopped every thread for 50-150 ms, often
    # while a writer held the database's lock.
    gc.freeze()
    try:
        collector.run(options.shutdown_grace)
    finally:
        housekeeper.stop()
        db.close_all()
    return 0
