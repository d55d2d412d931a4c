"""End to end: the delivery process stays warm after a session and serves the next one.

Every session here is a real ``pytest`` subprocess; each test has a temporary directory of
its own (``TMPDIR``), so its resident is its own, and kills what it leaves at the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_qahub.delivery import resident
from pytest_qahub.delivery.ci import SERVICES
from tests.conftest import LEAN_SUBPROCESS
from tests.support.databases import fresh_postgres
from tests.support.server import CollectorServer, qahub

SUITE = """
import pytest

@pytest.mark.qahub("W-1")
def test_passes():
    pass

@pytest.mark.qahub("W-2")
def test_fails():
    assert 1 == 2
"""

# Tells the harness the test runs (the first fifo), then waits until it is let go (the second):
# the session is in the middle of its tests for as long as the harness wants.
GATED = """
import os
import pytest

@pytest.mark.qahub("G-1")
def test_gated():
    with open(os.environ["STARTED"], "w") as started:
        started.write("started")
    with open(os.environ["GO"]) as go:
        assert go.read() == "go"
"""

WARM = re.compile(r"delivery: the warm process (\d+)")


def delivery_processes(under: Path) -> list[int]:
    """The delivery processes whose working directory is under ``under``."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if not entry.name.isdigit() or b"pytest_qahub.delivery" not in (entry / "cmdline").read_bytes():
                continue
            if Path(os.readlink(entry / "cwd")).is_relative_to(under):
                found.append(int(entry.name))
    return found


@dataclass
class Machine:
    """Projects on one machine whose sessions may share a warm delivery process."""

    root: Path
    env: dict[str, str]
    gates: list[Path] = field(default_factory=list)

    def project(self, name: str, suite: str = SUITE) -> Path:
        path = self.root / name
        path.mkdir()
        (path / "test_suite.py").write_text(suite)
        return path

    def command(self, project: Path, *args: str) -> list[str]:
        run = [] if any(arg.startswith("--qahub-run=") for arg in args) else ["--qahub-run-name=warm"]
        return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *run, *args]

    def session(self, project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(project, *args),
            cwd=project, env={**self.env, **env}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def gated(self, project: Path) -> tuple[subprocess.Popen[str], Path, Path]:
        """Start a session of `GATED`; return it once its test runs, and the fifo that lets it go."""
        started, go = project / "started", project / "go"
        os.mkfifo(started)
        os.mkfifo(go)
        running = subprocess.Popen(
            self.command(project),
            cwd=project, env={**self.env, "STARTED": str(started), "GO": str(go)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        with open(started) as told:  # blocks until the test opens it
            assert told.read() == "started"
        return running, go, started

    @staticmethod
    def let_go(running: subprocess.Popen[str], go: Path) -> str:
        with open(go, "w") as gate:
            gate.write("go")
        out, _ = running.communicate(timeout=120)
        return out


def warm_pid(output: str) -> int | None:
    found = WARM.search(output)
    return int(found.group(1)) if found else None


def results(project: Path) -> dict[str, str]:
    """The status of each case's latest result in the project's embedded database."""
    with contextlib.closing(sqlite3.connect(project / ".qahub" / "qahub.db")) as db:
        rows = db.execute(
            "SELECT c.code, r.status FROM result r JOIN test_case c ON c.id = r.test_case_id "
            "ORDER BY r.executed_at"
        ).fetchall()
    return dict(rows)


def run_count(project: Path) -> int:
    with contextlib.closing(sqlite3.connect(project / ".qahub" / "qahub.db")) as db:
        return db.execute("SELECT count(*) FROM run").fetchone()[0]


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[Machine]:
    # A short TMPDIR of its own: a Unix socket's path has at most 107 bytes.
    temp = Path(tempfile.mkdtemp(prefix="qh-", dir="/tmp"))
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("QAHUB_") and name not in ("CI", "XDG_RUNTIME_DIR", *dict(SERVICES))
    }
    env.update(TMPDIR=str(temp), QAHUB_KEEP_WARM="60", PYTEST_ADDOPTS=LEAN_SUBPROCESS)
    try:
        yield Machine(tmp_path, env)
    finally:
        for pid in delivery_processes(tmp_path):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for path in sorted(temp.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        temp.rmdir()


def test_the_next_session_is_served_by_the_warm_delivery_process(machine: Machine) -> None:
    project = machine.project("shop")
    first = machine.session(project)
    assert first.returncode == 1, first.stdout + first.stderr
    assert warm_pid(first.stdout) is None  # the first starts its own, which stays
    [staying] = delivery_processes(machine.root)

    second = machine.session(project, "-W", "error")
    assert second.returncode == 1, second.stdout + second.stderr
    assert warm_pid(second.stdout) == staying
    assert "1 failed, 1 passed" in second.stdout
    assert "sent 2, rejected 0, waiting in journal 0" in second.stdout
    assert "warning" not in second.stdout.lower()
    assert results(project) == {"W-1": "PASSED", "W-2": "FAILED"}
    assert run_count(project) == 2
    assert delivery_processes(machine.root) == [staying]  # it stays for the next


def test_each_session_is_served_in_its_own_directory_and_environment(machine: Machine) -> None:
    shop, blog = machine.project("shop"), machine.project("blog")
    assert machine.session(shop).returncode == 1
    elsewhere = machine.root / "elsewhere.db"
    served = machine.session(blog, QAHUB_DATABASE_URL=f"sqlite:///{elsewhere}", QAHUB_ENVIRONMENT="staging")
    assert warm_pid(served.stdout) is not None, served.stdout
    assert "sent 2, rejected 0" in served.stdout
    assert not (blog / ".qahub" / "qahub.db").exists()
    with contextlib.closing(sqlite3.connect(elsewhere)) as db:
        assert db.execute('SELECT "environment" FROM run').fetchall() == [("staging",)]
    assert run_count(shop) == 1  # nothing of the second session went to the first one's database

    third = machine.session(blog)  # the same process, back to the project's own database
    assert warm_pid(third.stdout) == warm_pid(served.stdout)
    assert results(blog) == {"W-1": "PASSED", "W-2": "FAILED"}


def test_a_session_started_while_it_is_busy_starts_its_own(machine: Machine) -> None:
    shop, blog = machine.project("shop", GATED), machine.project("blog")
    machine.session(blog)
    running, go, _ = machine.gated(shop)  # served by the warm process, which is now busy
    [busy] = delivery_processes(machine.root)
    meanwhile = machine.session(blog)
    assert meanwhile.returncode == 1
    assert warm_pid(meanwhile.stdout) is None
    assert "sent 2, rejected 0" in meanwhile.stdout
    out = machine.let_go(running, go)
    assert running.returncode == 0, out
    assert warm_pid(out) == busy
    assert "sent 1, rejected 0" in out
    assert results(shop) == {"G-1": "PASSED"}
    assert run_count(blog) == 2


def test_a_warm_process_killed_in_the_middle_loses_nothing(machine: Machine) -> None:
    shop = machine.project("shop", GATED)
    machine.session(shop, "--qahub-keep-warm=60", "-k", "nothing")
    running, go, _ = machine.gated(shop)
    [serving] = delivery_processes(machine.root)
    os.kill(serving, signal.SIGKILL)
    out = machine.let_go(running, go)
    assert running.returncode == 0, out  # the outcome is the tests'
    assert "1 passed" in out
    assert "waiting in journal 1" in out
    assert f"the resident delivery process (pid {serving}) closed the connection" in out
    assert "G-1" not in results(shop)
    replayed = qahub(machine.env, "replay", cwd=shop)
    assert "sent 1" in replayed
    assert results(shop) == {"G-1": "PASSED"}


def test_a_socket_left_by_a_killed_process_is_taken_over(machine: Machine) -> None:
    shop = machine.project("shop")
    machine.session(shop)
    [first] = delivery_processes(machine.root)
    os.kill(first, signal.SIGKILL)
    again = machine.session(shop)  # the socket is still there; nobody answers it
    assert warm_pid(again.stdout) is None
    assert "sent 2, rejected 0" in again.stdout
    [second] = delivery_processes(machine.root)
    assert warm_pid(machine.session(shop).stdout) == second != first


@pytest.mark.parametrize("setting", [{"QAHUB_KEEP_WARM": "0"}, {"CI": "true"}, {"GITLAB_CI": "true"}])
def test_nothing_stays_when_turned_off_or_in_ci(machine: Machine, setting: dict[str, str]) -> None:
    env = {name: value for name, value in machine.env.items() if name != "QAHUB_KEEP_WARM"}
    machine.env = {**env, **setting}
    shop = machine.project("shop")
    assert machine.session(shop).returncode == 1
    assert machine.session(shop).returncode == 1
    assert delivery_processes(machine.root) == []
    assert list((Path(machine.env["TMPDIR"]) / f"qahub-{os.getuid()}").glob("*.sock")) == []


def test_it_leaves_when_no_session_comes(machine: Machine) -> None:
    shop = machine.project("shop")
    machine.session(shop, "--qahub-keep-warm=3")  # long enough to be found on a busy machine
    [staying] = delivery_processes(machine.root)
    exited = select.poll()  # not our child: its pidfd turns readable when it exits
    exited.register(os.pidfd_open(staying), select.POLLIN)
    assert exited.poll(30_000), "it is still there 30 s later"
    assert list((Path(machine.env["TMPDIR"]) / f"qahub-{os.getuid()}").glob("*.sock")) == []


def test_the_session_it_serves_sets_how_long_it_stays(machine: Machine) -> None:
    shop = machine.project("shop")
    machine.session(shop)  # stays 60 s
    [staying] = delivery_processes(machine.root)
    exited = select.poll()
    exited.register(os.pidfd_open(staying), select.POLLIN)
    served = machine.session(shop, "--qahub-keep-warm=0")
    assert warm_pid(served.stdout) is None  # 0: it is not asked to serve either
    assert not exited.poll(0)
    served = machine.session(shop, "--qahub-keep-warm=0.2")
    assert warm_pid(served.stdout) == staying
    assert exited.poll(30_000), "it stays as the first session asked, not as the last"


def test_it_serves_http_sessions_too(machine: Machine, collector_server: CollectorServer) -> None:
    shop = machine.project("shop")
    machine.session(shop)
    run_id = collector_server.create_run("warm-http")
    env = {"QAHUB_URL": collector_server.url, "QAHUB_TOKEN": collector_server.token}
    served = machine.session(shop, f"--qahub-run={run_id}", "--qahub-unmapped=create", **env)
    assert warm_pid(served.stdout) is not None, served.stdout + served.stderr
    assert "sent 2, rejected 0" in served.stdout
    statuses = {row["test_case_code"]: row["status"] for row in collector_server.results(run_id)}
    assert statuses == {"W-1": "PASSED", "W-2": "FAILED"}


@pytest.mark.postgres
def test_a_postgres_database_is_not_served_by_a_process_without_its_driver(machine: Machine) -> None:
    shop = machine.project("shop")
    machine.session(shop)  # SQLite: the process that stays left out the PostgreSQL drivers
    with fresh_postgres() as url:
        served = machine.session(shop, QAHUB_DATABASE_URL=url)
        assert warm_pid(served.stdout) is None
        assert "sent 2, rejected 0" in served.stdout, served.stdout + served.stderr


def test_the_address_changes_with_the_code_and_the_python_path(tmp_path: Path) -> None:
    for package in resident.PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    before = resident.fingerprint({}, tmp_path)
    assert resident.fingerprint({}, tmp_path) == before
    assert resident.fingerprint({"PYTHONPATH": "/x"}, tmp_path) != before
    (tmp_path / "collector" / "__init__.py").write_text("changed = True\n")
    assert resident.fingerprint({}, tmp_path) != before


def test_no_address_in_a_folder_others_can_enter_or_too_deep_for_a_socket(tmp_path: Path) -> None:
    short = Path(tempfile.mkdtemp(prefix="qh-", dir="/tmp"))
    try:
        assert resident.address({"XDG_RUNTIME_DIR": str(short)}) is not None
        (short / f"qahub-{os.getuid()}").chmod(0o755)
        assert resident.address({"XDG_RUNTIME_DIR": str(short)}) is None
    finally:
        (short / f"qahub-{os.getuid()}").rmdir()
        short.rmdir()
    deep = tmp_path / ("d" * 60)
    deep.mkdir()
    assert resident.address({"XDG_RUNTIME_DIR": str(deep)}) is None
