"""Benchmark attachment upload and download through a real ``qahub serve``.

Uploads one file of ``--size-mib`` MiB (an MP4: a ``ftyp`` box and an ``mdat`` box of random
bytes, so it passes the type check and does not compress) ``--count`` times, downloads it as
often, and reports the throughput both ways and how far the server's resident memory rose
above its idle level, next to the file size and the 64 KiB read chunk.

With ``--storage s3`` the server keeps attachments in a bucket of moto's S3 server (started
here on a free loopback port; ``pip install 'moto[server]' boto3``), configured as an operator
would: ``QAHUB_STORAGE_URL`` and the standard AWS variables. ``--max-mib`` raises
``ATTACHMENT_MAX_BYTES`` (default: 10 MiB, or the file size if larger).

    python bench/attachments.py [--count 20] [--size-mib 10] [--concurrency 1] [--threads 8]
                                [--storage directory|s3] [--max-mib N]
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

from collector.intake import CHUNK_BYTES

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

    def __init__(self, workdir: Path, threads: int, max_bytes: int, env: dict | None = None) -> None:
        extra = {"ATTACHMENT_MAX_BYTES": str(max_bytes), **(env or {})}
        super().__init__(workdir, threads=threads, extra_env=extra)

    def make_result(self) -> str:
        self.session.post(f"{self.api}/cases", json={"code": "BENCH-1"}, timeout=10)
        run = self.session.post(f"{self.api}/runs", json={"name": "bench"}, timeout=10).json()["data"]
        run_id = run["id"]
        body = {"results": [{"test_case_code": "BENCH-1", "status": "FAILED"}]}
        response = self.session.post(f"{self.api}/runs/{run_id}/results", json=body, timeout=10)
        return response.json()["data"][0]["id"]


class S3:
    """moto's S3 server in a thread of this process, with one bucket for the collector."""

    def __init__(self, workdir: Path) -> None:
        import logging

        import boto3
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        spool = workdir / "spool"
        spool.mkdir(parents=True)
        self.env = {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "QAHUB_STORAGE_URL": "s3://qahub-bench/attachments",
            "TMPDIR": str(spool),  # where the collector spools uploads before sending them
        }
        client = boto3.client(
            "s3",
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="qahub-bench")

    def stop(self) -> None:
        self.server.stop()


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
    storage: str = "directory"
    max_bytes: int = 0
    up_s: float = 0.0
    down_s: float = 0.0
    idle_kib: int = 0
    peaks_kib: dict[str, int] = field(default_factory=dict)
    exact_peaks: bool = True

    def report(self) -> None:
        moved = self.size * self.count / MIB
        print(f"file:            {self.size / MIB:.1f} MiB MP4, {self.count} uploads, then as many downloads")
        print(f"clients:         {self.clients} in parallel, server threads: {self.threads}")
        print(f"storage:         {self.storage}, ATTACHMENT_MAX_BYTES {self.max_bytes / MIB:.0f} MiB")
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
    parser.add_argument("--storage", choices=("directory", "s3"), default="directory", help="where files go")
    parser.add_argument("--max-mib", type=float, help="ATTACHMENT_MAX_BYTES in MiB (default 10, or the size)")
    args = parser.parse_args()
    size = int(args.size_mib * MIB)
    limit = int(args.max_mib * MIB) if args.max_mib else max(10 * MIB, size)
    figures = Figures(size, args.count, args.concurrency, args.threads, args.storage, limit)
    body = multipart("recording.mp4", mp4_of(figures.size))
    with tempfile.TemporaryDirectory(prefix="qahub-bench-") as scratch:
        s3 = S3(Path(scratch)) if args.storage == "s3" else None
        try:
            server = Server(Path(scratch), args.threads, limit, s3.env if s3 else None)
            try:
                measure(server, body, figures)
            finally:
                server.stop()
        finally:
            if s3 is not None:
                s3.stop()
    figures.report()


if __name__ == "__main__":
    main()
