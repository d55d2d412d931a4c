"""waitress's HTTP server with deadlines on slow clients, for ``qahub serve``.

waitress reads requests and writes responses on one asynchronous loop and hands only complete
requests to its worker threads, so a slow client never holds a thread while it sends. It does
hold a connection, and waitress's own idle timeout only counts seconds without *any* byte: a
client trickling one byte every few seconds keeps its connection forever, and enough of them
fill the connection limit. Here every connection also has a deadline for what it is doing:

- the request head (request line and headers) must be complete within ``header_timeout``
  of the connection opening, or of its first byte on a reused connection;
- a request body, and a response, may take ``header_timeout`` plus one second for every
  ``min_rate`` bytes moved (the rule of Apache's ``mod_reqtimeout``).

A connection past its deadline is closed (reset); a worker thread still producing its
response stops at its next write.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from dataclasses import dataclass

from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

try:  # POSIX: ask the kernel how much of a response the client has not acknowledged yet
    import fcntl
    import termios
except ImportError:  # elsewhere: assume the whole send buffer is still waiting
    fcntl = termios = None

log = logging.getLogger("collector.connections")


@dataclass(frozen=True)
class ClientDeadlines:
    """How long a client may take to send a request head, and how slowly it may move bytes."""

    header_timeout: float
    min_rate: float  # bytes per second


class GuardedChannel(HTTPChannel):
    """An HTTP connection that remembers when its request and its response began."""

    def __init__(self, server, sock, addr, adj, map=None) -> None:
        super().__init__(server, sock, addr, adj, map=map)
        now = time.monotonic()
        self.head_started: float | None = now  # a new connection owes its first request head
        self.body_started: float | None = None
        self.body_bytes = 0
        self.sent_bytes = 0
        self.send_started: float | None = None
        self.send_base = 0

    # A connection cut while the loop gathers what to wait for (``close_overdue``) must not be
    # waited for: its descriptor number may go, in the same turn, to a connection just accepted,
    # which the loop would then close for the old one's "invalid descriptor" event.

    def readable(self) -> bool:
        return self._fileno is not None and super().readable()

    def writable(self) -> bool:
        return self._fileno is not None and super().writable()

    def received(self, data: bytes) -> bool:
        now = time.monotonic()
        before = self.request
        if before is None and self.head_started is None:
            self.head_started = now  # the first byte of a request on a reused connection
        elif self.body_started is not None:
            self.body_bytes += len(data)
        accepted = super().received(data)
        request = self.request
        if request is None:  # every request in the data is complete: idle until the next
            self.head_started = self.body_started = None
            self.body_bytes = 0
            return accepted
        if before is not None and request is not before:  # one ended and the next began here
            self.head_started, self.body_started, self.body_bytes = now, None, 0
        if request.headers_finished and self.body_started is None:
            self.body_started, self.body_bytes = now, 0
        return accepted

    def send(self, data: bytes, do_close: bool = True) -> int:
        sent = super().send(data, do_close=do_close)
        self.sent_bytes += sent or 0
        return sent

    def overdue(self, now: float, deadlines: ClientDeadlines) -> str | None:
        """Say what this connection is late with, or ``None`` when it is on time."""
        if self.total_outbufs_len:
            delivered = self.sent_bytes - self._unacknowledged()
            if self.send_started is None:
                self.send_started, self.send_base = now, delivered
            moved = max(0, delivered - self.send_base)
            if now > self.send_started + deadlines.header_timeout + moved / deadlines.min_rate:
                return f"reading its response too slowly ({moved} bytes in {now - self.send_started:.0f} s)"
        else:
            self.send_started = None
        if self.requests:
            return None  # a worker has the request; the client waits for us, not we for it
        if self.body_started is not None:
            if now > self.body_started + deadlines.header_timeout + self.body_bytes / deadlines.min_rate:
                return (
                    f"sending its request body too slowly "
                    f"({self.body_bytes} bytes in {now - self.body_started:.0f} s)"
                )
        elif self.head_started is not None and now > self.head_started + deadlines.header_timeout:
            return f"not sending a complete request head within {deadlines.header_timeout:g} s"
        return None

    def _unacknowledged(self) -> int:
        """Bytes given to the kernel that the client has not acknowledged yet.

        The kernel takes megabytes of a response at once (its send buffer grows to 4 MiB on
        Linux); counted as moved, they would give a client that reads nothing an hour's grace.
        """
        try:
            raw = fcntl.ioctl(self.socket.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
            return struct.unpack("i", raw)[0]
        except (OSError, AttributeError, ValueError):  # AttributeError: no fcntl or no TIOCOUTQ
            try:  # no such query here: assume the whole send buffer is still waiting
                return self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
            except OSError:
                return 0


class GuardedServer(TcpWSGIServer):
    """A waitress TCP server whose connections are :class:`GuardedChannel` with deadlines."""

    channel_class = GuardedChannel

    def __init__(self, application, *, deadlines: ClientDeadlines, **kwargs) -> None:
        self.deadlines = deadlines
        super().__init__(application, **kwargs)

    def maintenance(self, now: float) -> None:
        """Close idle connections (waitress) and connections past their deadline (ours)."""
        super().maintenance(now)
        self.close_overdue()

    def close_overdue(self) -> None:
        """Close every connection that is late with its request or with reading its response."""
        now = time.monotonic()
        for channel in list(self.active_channels.values()):
            if channel.will_close or not isinstance(channel, GuardedChannel):
                continue
            reason = channel.overdue(now, self.deadlines)
            if reason is not None:
                log.info("Closed the connection from %s: %s", channel.addr[0], reason)
                _reset_on_close(channel.socket)
                # At once, not by marking it: a client that reads nothing leaves its socket
                # unwritable, and waitress closes a marked connection only when it can write.
                # A worker waiting to hand it more of a response wakes and stops.
                channel.handle_close()


def _reset_on_close(sock: socket.socket) -> None:
    """Make closing ``sock`` a reset that drops what it still holds for the client.

    A plain close leaves the kernel sending the rest of its buffer (megabytes) to a client
    that reads nothing, for minutes; the reset frees it at once.
    """
    with contextlib.suppress(OSError):  # a socket already gone needs nothing
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
