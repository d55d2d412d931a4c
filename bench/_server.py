"""Start a real ``qahub serve`` for a benchmark and read the server's memory from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests


class Server:
    """A ``qahub serve`` subprocess on a free loopback port, with a read/write token."""

    def __init__(
        self,
        workdir: Path,
        database_url: str | None = None,
        threads: int = 8,
        extra_env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        log: Path | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "QAHUB_DATABASE_URL": database_url or f"sqlite:///{workdir / 'qahub.db'}",
            "QAHUB_STORAGE_DIR": str(workdir / "attachments"),
            **(extra_env or {}),
        }
        self.token = self.qahub("token", "create", "--scopes", "read,write").strip()
        self.log = log
        stderr = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--port", "0", "--threads", str(threads), *args],
            env=self.env, stdout=subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
        if log:
            stderr.close()
        self.url = self.process.stdout.readline().decode().split()[-1]
        self.api = f"{self.url}/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.session.get(f"{self.url}/healthz", timeout=2).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("qahub serve did not start")

    def qahub(self, *args: str) -> str:
        command = [sys.executable, "-m", "collector.cli", *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, check=True).stdout

    def rss_kib(self, field: str = "VmRSS") -> int:
        """The server's resident memory (or ``VmHWM``, its peak) in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"{field} not found")

    def reset_peak(self) -> bool:
        """Reset ``VmHWM`` to the current RSS (Linux ``clear_refs`` 5); tell whether it worked."""
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)
