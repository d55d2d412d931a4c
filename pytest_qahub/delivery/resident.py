"""The resident delivery process: a session's delivery process that stays, warm, for the next.

A new delivery process spends most of a short session's overhead starting Python and
importing (the HTTP client, the embedded collector) before it can check the run. Outside CI,
once its session is over it stays for ``--qahub-keep-warm`` seconds, listening on a Unix
socket only its user can reach, and the next session of the same interpreter and the same
code is served by it at once: the session's environment and working directory come with the
job. While it serves one session it does not listen: a session started meanwhile starts a
delivery process of its own.

The socket's name is a digest of what the process was started from: the interpreter, the
``PYTHONPATH``, and the size and modification time of every file of this plugin, the
collector and the contract. Changed code never meets a resident started before the change.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import socket
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

#: Seconds a session waits for a resident to take its job before starting its own process.
HANDSHAKE_S = 2.0
#: Seconds a resident waits for the job once a session has connected.
JOB_S = 5.0
#: The longest socket path Linux takes is 107 bytes; leave room for the name.
MAX_PATH = 100
#: The packages whose code a resident runs (their files make its address).
PACKAGES = ("pytest_qahub", "collector", "qahub_contract")

#: (job, the session's lines, how to answer) -> serves one session; returns the seconds to
#: stay after it, as that session asked (None: as before, for a job it declined).
Serve = Callable[[dict[str, Any], Iterable[bytes], Callable[[dict[str, Any]], None]], float | None]


def supported() -> bool:
    """Unix sockets and ``fork``: not on Windows."""
    return hasattr(socket, "AF_UNIX") and hasattr(os, "fork")


def address(environ: Mapping[str, str]) -> Path | None:
    """Where the resident for this interpreter and this code listens; None when there can be none."""
    if not supported():
        return None
    folder = Path(environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"qahub-{os.getuid()}"
    if not _private(folder):
        return None
    path = folder / f"delivery-{fingerprint(environ)}.sock"
    return path if len(str(path)) <= MAX_PATH else None


def _private(folder: Path) -> bool:
    """Make ``folder`` if need be; True if it is a directory only this user can enter."""
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    try:
        found = folder.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid() and not found.st_mode & 0o077


#: Where `PACKAGES` are.
CODE_ROOT = Path(__file__).resolve().parent.parent.parent


def fingerprint(environ: Mapping[str, str], root: Path = CODE_ROOT) -> str:
    """A digest of the interpreter, ``PYTHONPATH`` and every file of the code a resident runs."""
    digest = hashlib.sha256(f"{sys.executable}\0{sys.version}\0{environ.get('PYTHONPATH', '')}".encode())
    for package in PACKAGES:
        for folder, _, files in sorted(os.walk(root / package)):
            for name in sorted(files):
                if name.endswith(".py"):
                    with contextlib.suppress(OSError):  # removed while we look: it counts as changed
                        found = os.stat(os.path.join(folder, name))
                        digest.update(f"{folder}/{name}\0{found.st_size}\0{found.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:20]


def dial(path: Path, job: dict[str, Any]) -> tuple[socket.socket, Any, int] | None:
    """Hand the job to the resident at ``path``: its connection, the connection's lines, its pid.

    None when there is no resident there, it is serving another session, or it declines the
    job: the session starts a delivery process of its own.
    """
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.settimeout(HANDSHAKE_S)
        client.connect(str(path))
        client.sendall(orjson.dumps(job) + b"\n")
        lines = client.makefile("rb")
        reply = orjson.loads(lines.readline() or b"null")
    except (OSError, ValueError):
        client.close()
        return None
    if not isinstance(reply, dict) or reply.get("event") != "accepted":
        lines.close()
        client.close()
        return None
    client.settimeout(None)
    return client, lines, int(reply.get("pid", 0))


def stay(path: Path, keep_warm: float, serve: Serve) -> None:
    """Become the resident at ``path`` for ``keep_warm`` idle seconds, in a forked child.

    Returns at once in the calling process, which then exits as before: its session waits for
    that exit. The child leaves the session's process group and pipes, and serves sessions one
    at a time until none comes for ``keep_warm`` seconds (each session it serves sets that anew).
    """
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current:
            thread.join(1.0)  # the session's threads end with it; a fork must not copy one
    if threading.active_count() > 1 or os.fork():
        return
    try:
        os.setsid()
        quiet = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(quiet, fd)
        _listen_and_serve(path, keep_warm, serve)
    finally:
        os._exit(0)


def _bind(path: Path) -> socket.socket | None:
    """Listen at ``path``; None when another resident already does."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            listener.bind(str(path))
        except OSError as ex:
            if ex.errno != errno.EADDRINUSE or _answers(path):
                raise
            path.unlink(missing_ok=True)  # left by a resident that was killed
            listener.bind(str(path))
        listener.listen(8)
    except OSError:
        listener.close()
        return None
    return listener


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _listen_and_serve(path: Path, keep_warm: float, serve: Serve) -> None:
    listener = _bind(path)
    while listener is not None:
        listener.settimeout(keep_warm)
        try:
            connection, _ = listener.accept()
        except OSError:  # nobody came in time
            return
        finally:
            # Serving one session at a time: the next starts its own process meanwhile.
            listener.close()
            path.unlink(missing_ok=True)
        with connection:
            asked = _serve_one(connection, serve)
        keep_warm = keep_warm if asked is None else asked
        listener = _bind(path) if keep_warm > 0 else None


def _serve_one(connection: socket.socket, serve: Serve) -> float | None:
    def say(message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the session is gone: what it journaled is still sent
            connection.sendall(orjson.dumps(message) + b"\n")

    try:
        connection.settimeout(JOB_S)
        lines = connection.makefile("rb")
        job = orjson.loads(lines.readline())
        connection.settimeout(None)
    except (OSError, ValueError):
        return None
    with lines:
        return serve(job, lines, say)
