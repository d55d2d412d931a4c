"""A real ``qahub serve`` in a subprocess on an ephemeral loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

STARTUP_TIMEOUT_S = 30.0


def qahub(env: dict[str, str], *args: str, check: bool = True, cwd: Path | None = None) -> str:
    """Run a ``qahub`` command with ``env``; return its stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(f"qahub {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


class CollectorServer:
    """Starts, stops and restarts ``qahub serve``; talks to it with a read/write token."""

    def __init__(
        self,
        workdir: Path,
        database_url: str | None = None,
        extra_env: dict | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.args = args
        workdir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url or f"sqlite:///{workdir / 'qahub.db'}"
        # The collector's host: a client's QAHUB_URL (set by a test for pytest) does not apply here.
        host_env = {k: v for k, v in os.environ.items() if k not in ("QAHUB_URL", "QAHUB_TOKEN")}
        self.env = {
            **host_env,
            "QAHUB_DATABASE_URL": self.database_url,
            "QAHUB_STORAGE_DIR": str(workdir / "attachments"),
            **(extra_env or {}),
        }
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.url = ""
        self.token = qahub(self.env, "token", "create", "--name", "tests").strip()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def start(self) -> None:
        """Start the server (on the same port as before after a restart)."""
        log = open(self.workdir / "server.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--port", str(self.port), *self.args],
            env=self.env, stdout=subprocess.PIPE, stderr=log, cwd=self.workdir,
        )  # fmt: skip
        log.close()
        line = self.process.stdout.readline().decode()
        if not line.startswith("Serving on "):
            self.process.kill()
            raise RuntimeError(f"qahub serve did not start: {line!r}; see {self.workdir / 'server.log'}")
        self.url = line.split()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if self.session.get(f"{self.url}/healthz", timeout=2).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)  # the socket is bound before it is served; poll with a deadline
        raise RuntimeError("qahub serve did not become healthy")

    def stop(self, kill: bool = False) -> None:
        """Stop the server: SIGTERM by default, SIGKILL with ``kill=True``."""
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(timeout=15)
        self.process.stdout.close()
        self.process = None

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def create_run(self, name: str = "r") -> str:
        response = self.session.post(f"{self.api}/runs", json={"name": name}, timeout=10)
        response.raise_for_status()
        return response.json()["data"]["id"]

    def create_case(self, code: str, title: str = "") -> str:
        response = self.session.post(f"{self.api}/cases", json={"code": code, "title": title}, timeout=10)
        if response.status_code != 409:
            response.raise_for_status()
            return response.json()["data"]["id"]
        return self.session.get(f"{self.api}/cases/{code}", timeout=10).json()["data"]["id"]

    def results(self, run_id: str) -> list[dict]:
        response = self.session.get(f"{self.api}/runs/{run_id}/results", timeout=30)
        response.raise_for_status()
        return response.json()["data"]

    def server_log(self) -> str:
        return (self.workdir / "server.log").read_text(errors="replace")
