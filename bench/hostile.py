"""Hostile and slow clients against one ``qahub serve`` on default settings.

    python bench/hostile.py [--scenario all|trickle|readers|bodies] [--connections 300]
                            [--hold 180] [--readers 10] [--results 100000] [--bodies 8]

- ``trickle``: ``--connections`` clients each send one byte of a request head every 15 s,
  for ``--hold`` seconds; a client the server cuts off connects again at once.
- ``readers``: ``--readers`` clients with a read token ask for a ``--results``-result run's
  listing and read 1 KiB of it every 40 s, for ``--hold`` seconds.
- ``bodies``: ``--bodies`` clients post a 16 MiB body of ``{}`` items at once.

Meanwhile a probe asks ``/healthz`` every 0.5 s on a new connection (timeout 10 s). Printed:
the probe's latency (p50, max, failures), how many attacker connections the server held,
the server's peak RSS (``VmHWM``) and, for the readers, how long the server took to produce
each listing (from its access log) and when it cut the reader off.

To measure another commit, export it (``git archive COMMIT | tar -x -C DIR``), copy this
script and ``_server.py`` into ``DIR/bench`` and run it from ``DIR``: the server and the seeding
then use that copy's collector.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from _seed import Seeder, sqlite_url
from _server import Server

PROBE_EVERY_S = 0.5
PROBE_TIMEOUT_S = 10.0
TRICKLE_EVERY_S = 15.0
READ_BYTES, READ_EVERY_S = 1024, 40.0
BODY_BYTES = 16 * 1024 * 1024


class Probe(threading.Thread):
    """Asks ``/healthz`` on a new connection every half second; keeps each latency."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.latencies: list[float] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            start = time.perf_counter()
            try:
                ok = requests.get(f"{self.url}/healthz", timeout=PROBE_TIMEOUT_S).status_code == 200
            except requests.RequestException:
                ok = False
            elapsed = time.perf_counter() - start
            self.latencies.append(elapsed)
            self.failures += not ok
            self.stop.wait(max(0.0, PROBE_EVERY_S - elapsed))

    def summary(self) -> str:
        self.stop.set()
        self.join()
        p50 = statistics.median(self.latencies) * 1000
        worst = max(self.latencies) * 1000
        return f"health p50 {p50:.1f} ms, max {worst:.0f} ms, {self.failures} of {len(self.latencies)} failed"


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def closed(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def trickle(server: Server, count: int, hold: float) -> None:
    probe = Probe(server.url)
    probe.start()
    clients: list[tuple[socket.socket | None, float]] = [(None, 0.0)] * count
    held, cut_off, started = [], 0, time.monotonic()
    while time.monotonic() - started < hold:
        now = time.monotonic()
        for index, (sock, due) in enumerate(clients):
            if sock is not None and closed(sock):
                sock.close()
                sock, cut_off = None, cut_off + 1
            if sock is None:
                try:
                    sock = socket.create_connection(address(server.url), timeout=5)
                except OSError:
                    clients[index] = (None, now)
                    continue
                due = now + (index % 15)  # spread the bytes over the 15 s
            if now >= due:
                try:
                    sock.setblocking(True)
                    sock.send(b"G")
                    due = now + TRICKLE_EVERY_S
                except OSError:
                    sock.close()
                    sock, cut_off = None, cut_off + 1
            clients[index] = (sock, due)
        held.append(sum(1 for sock, _ in clients if sock is not None))
        time.sleep(0.5)
    for sock, _ in clients:
        if sock is not None:
            sock.close()
    print(
        f"trickle   {count} clients for {hold:.0f} s: open at once median {statistics.median(held):.0f}, "
        f"cut off and reconnected {cut_off} times; {probe.summary()}; "
        f"server peak RSS {server.rss_kib('VmHWM') // 1024} MiB"
    )


def readers(server: Server, run_id: str, count: int, hold: float) -> None:
    path = f"/api/v1/runs/{run_id}/results"
    size = len(server.session.get(f"{server.url}{path}", timeout=300).content)
    server.reset_peak()
    before = server.rss_kib() // 1024
    probe = Probe(server.url)
    probe.start()
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(address(server.url))
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {server.token}\r\n\r\n".encode()
        )
        socks.append(sock)
    started = time.monotonic()
    received, cut_at = [0] * count, [None] * count
    next_read = started
    while time.monotonic() - started < hold:
        if time.monotonic() >= next_read:
            for index, sock in enumerate(socks):
                if cut_at[index] is None:
                    sock.settimeout(1)
                    try:
                        chunk = sock.recv(READ_BYTES)
                    except TimeoutError:
                        chunk = b"?"
                    except OSError:
                        chunk = b""
                    if chunk == b"":
                        cut_at[index] = time.monotonic() - started
                    elif chunk != b"?":
                        received[index] += len(chunk)
            next_read += READ_EVERY_S
        time.sleep(0.5)
    for sock in socks:
        sock.close()
    produced = _listing_times(server, path)
    log = server.log.read_text(errors="replace") if server.log and server.log.exists() else ""
    server_cuts = log.count("reading its response too slowly")
    cuts = sorted(round(t) for t in cut_at if t is not None)
    peak = server.rss_kib("VmHWM") // 1024
    print(
        f"readers   {count} readers of a {size / 1e6:.0f} MB listing, {READ_BYTES} B/{READ_EVERY_S:.0f} s, "
        f"for {hold:.0f} s: {probe.summary()}; server RSS before {before} MiB, peak {peak} MiB"
    )
    print(f"          listings produced in (ms, from the access log): {produced or 'n/a (no access log)'}")
    print(
        f"          readers the server cut off (its log): {server_cuts} of {count}; readers that saw the "
        f"end within the hold (what the kernel had already delivered comes first): {len(cuts)}"
    )


def _listing_times(server: Server, path: str) -> list[int]:
    if server.log is None or not server.log.exists():
        return []
    pattern = re.compile(rf'"GET {re.escape(path)}" 200 \d+ B ([\d.]+) ms')
    return sorted(round(float(m.group(1))) for m in pattern.finditer(server.log.read_text(errors="replace")))[
        1:
    ]


def bodies(server: Server, run_id: str, count: int) -> None:
    item = b"{},"
    body = b'{"results": [' + item * ((BODY_BYTES - 20) // len(item)) + b"{}]}"
    url = f"{server.api}/runs/{run_id}/results"
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    before = server.rss_kib() // 1024
    server.reset_peak()
    probe = Probe(server.url)
    probe.start()
    statuses: list[int] = []
    start = threading.Barrier(count)

    def post() -> None:
        start.wait()
        try:
            statuses.append(requests.post(url, data=body, headers=headers, timeout=300).status_code)
        except requests.RequestException as ex:
            statuses.append(type(ex).__name__)

    threads = [threading.Thread(target=post) for _ in range(count)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - began
    time.sleep(2)
    print(
        f"bodies    {count} x {len(body) / 2**20:.0f} MiB of {{}} items at once: answers {sorted(statuses)} "
        f"in {took:.1f} s; server RSS before {before} MiB, peak {server.rss_kib('VmHWM') // 1024} MiB, "
        f"after {server.rss_kib() // 1024} MiB; {probe.summary()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=("all", "trickle", "readers", "bodies"), default="all")
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--hold", type=float, default=180.0)
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--bodies", type=int, default=8)
    args = parser.parse_args()
    scenarios = ("trickle", "readers", "bodies") if args.scenario == "all" else (args.scenario,)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        run_id = ""
        if "readers" in scenarios or "bodies" in scenarios:
            seeder = Seeder(sqlite_url(workdir))
            run_id, took = seeder.run(args.results if "readers" in scenarios else 1)
            seeder.close()
            print(f"seeded a run of {args.results if 'readers' in scenarios else 1} results in {took:.0f} s")
        for scenario in scenarios:
            server = Server(workdir, log=workdir / f"{scenario}.log")
            try:
                if scenario == "trickle":
                    trickle(server, args.connections, args.hold)
                elif scenario == "readers":
                    readers(server, run_id, args.readers, args.hold)
                else:
                    bodies(server, run_id, args.bodies)
            finally:
                server.process.kill()
                server.process.wait()
    source = Path(__file__).resolve().parent.parent
    print(f"server: the collector in {source}; python {sys.version.split()[0]}; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
