"""Benchmark attachment upload and download through a real ``qahub serve``.

Uploads one file of ``--size-mib`` MiB (an MP4: a ``ftyp`` box and an ``mdat`` box of random
bytes, so it passes the type check and does not compress) ``--count`` times, downloads it as
often, and reports the throughput both ways and how far the server's resident memory rose
above its idle level, next to the file size and the 64 KiB read chunk.

    python bench/attachments.py [--count 20] [--size-mib 10] [--concurrency 1] [--threads 8]
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _server

from collector.filetypes import CHUNK_BYTES

MIB = 1024 * 1024
BOUNDARY = "benchBoundary0123456789"


def mp4_of(size: int) -> bytes:
    """An MP4 of exactly ``size`` bytes whose ``mdat`` box holds random bytes."""
    ftyp = b"ftyp" + b"isom" + struct.pack(">I", 0x200) + b"isomiso2mp41"
    ftyp = struct.pack(">I", len(ftyp) + 4) + ftyp
    payload = size - len(ftyp) - 8
    return ftyp + struct.pack(">I", payload + 8) + b"mdat" + os.urandom(payload)


def multipart(name: str, data: bytes) -> bytes:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'
    return head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


class Server(_server.Server):
    """``qahub serve`` on a free port in a scratch directory, with one result to attach to."""

    def __init__(self, workdir: Path, threads: int, max_bytes: int) -> None:
        super().__init__(workdir, threads=threads, extra_env={"ATTACHMENT_MAX_BYTES": str(max_bytes)})

    def make_result(self) -> str:
        self.session.post(f"{self.api}/cases", json={"code": "BENCH-1"}, timeout=10)
        run = self.session.post(f"{self.api}/runs", json={"name": "bench"}, timeout=10).json()["data"]
        run_id = run["id"]
        body = {"results": [{"test_case_code": "BENCH-1", "status": "FAILED"}]}
        response = self.session.post(f"{self.api}/runs/{run_id}/results", json=body, timeout=10)
        return response.json()["data"][0]["id"]


def upload(server: Server, result_id: str, body: bytes) -> str:
    response = server.session.post(
        f"{server.api}/results/{result_id}/attachments",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        timeout=120,
    )
    if response.status_code != 201:
        raise RuntimeError(f"upload failed: {response.status_code} {response.text}")
    return response.json()["data"][0]["id"]


def download(server: Server, attachment_id: str) -> int:
    received = 0
    url = f"{server.api}/attachments/{attachment_id}"
    with server.session.get(url, stream=True, timeout=120) as response:
        response.raise_for_status()
        for chunk in response.iter_content(MIB):
            received += len(chunk)
    return received


@dataclass
class Figures:
    """What one benchmark run measured (memory in KiB, times in seconds)."""

    size: int
    count: int
    clients: int
    threads: int
    up_s: float = 0.0
    down_s: float = 0.0
    idle_kib: int = 0
    peaks_kib: dict[str, int] = field(default_factory=dict)
    exact_peaks: bool = True

    def report(self) -> None:
        moved = self.size * self.count / MIB
        print(f"file:            {self.size / MIB:.1f} MiB MP4, {self.count} uploads, then as many downloads")
        print(f"clients:         {self.clients} in parallel, server threads: {self.threads}")
        for phase, seconds in (("upload", self.up_s), ("download", self.down_s)):
            per_file = seconds / self.count * 1000
            print(f"{phase + ':':<16} {moved / seconds:7.1f} MiB/s  ({per_file:.0f} ms per file)")
        print(f"server RSS:      {self.idle_kib / 1024:.1f} MiB idle after a warm-up request")
        for phase, peak in self.peaks_kib.items():
            growth = (peak - self.idle_kib) * 1024
            print(
                f"peak {phase + ':':<11} +{growth / MIB:.2f} MiB over idle"
                f" = {growth / self.size:.2f}x the file = {growth / CHUNK_BYTES:.0f}x the"
                f" {CHUNK_BYTES // 1024} KiB chunk"
            )
        if not self.exact_peaks:
            print("(VmHWM could not be reset, so the peaks may include start-up)")


def measure(server: Server, body: bytes, figures: Figures) -> None:
    """Upload ``body`` and download the files again, timing both and reading the peaks."""
    result_id = server.make_result()
    download(server, upload(server, result_id, multipart("warm.txt", b"warm up\n")))
    figures.idle_kib = server.rss_kib("VmRSS")
    with ThreadPoolExecutor(figures.clients) as pool:
        figures.exact_peaks = server.reset_peak()
        started = time.perf_counter()
        ids = list(pool.map(lambda _: upload(server, result_id, body), range(figures.count)))
        figures.up_s = time.perf_counter() - started
        figures.peaks_kib["uploads"] = server.rss_kib("VmHWM")
        figures.exact_peaks = server.reset_peak() and figures.exact_peaks
        started = time.perf_counter()
        sizes = list(pool.map(lambda i: download(server, i), ids))
        figures.down_s = time.perf_counter() - started
        figures.peaks_kib["downloads"] = server.rss_kib("VmHWM")
    if any(s != figures.size for s in sizes):
        raise RuntimeError("a download came back short")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20, help="uploads and downloads (default 20)")
    parser.add_argument("--size-mib", type=float, default=10.0, help="file size in MiB (default 10)")
    parser.add_argument("--concurrency", type=int, default=1, help="parallel clients (default 1)")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (default 8, as qahub serve)")
    args = parser.parse_args()
    figures = Figures(int(args.size_mib * MIB), args.count, args.concurrency, args.threads)
    body = multipart("recording.mp4", mp4_of(figures.size))
    with tempfile.TemporaryDirectory(prefix="qahub-bench-") as scratch:
        limit = max(10 * MIB, figures.size)
        server = Server(Path(scratch), threads=args.threads, max_bytes=limit)
        try:
            measure(server, body, figures)
        finally:
            server.stop()
    figures.report()


if __name__ == "__main__":
    main()
