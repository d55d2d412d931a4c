"""Faults between the plugin and the collector: a pytest session of 30 mapped tests each time.

For every fault (connection refused all session; resets, 503s or answers slower than the
client's read timeout on every third request; the collector killed with SIGKILL mid-session
and restarted) the session keeps pytest's exit code, ends within its flush time, and after
at most one ``qahub replay`` every result is in the run exactly once with its status.

Every third test attaches a log with ``qahub_attach``: its result must end with exactly that file.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from pytest_qahub.journal import default_directory, load
from tests.reliability.conftest import ServerFactory, make_codes, rows_by_code
from tests.support.faults import FaultProxy, closed_port_url
from tests.support.server import CollectorServer
from tests.support.waiting import wait_until

COUNT = 30
FLUSH_S = 3.0  # the session's flush bound in these tests
RETRY_FLUSH_S = 30.0  # long enough for retries (Retry-After: 1) to deliver everything in-session
SLACK_S = 25.0  # interpreter start, collection, preflight retries on a busy two-core machine
CLIENT_READ_TIMEOUT_S = 15.0  # pytest_qahub.client.HttpTransport's read timeout

SUITE = """
import pytest

from gates import gate

@pytest.mark.parametrize("n", range(30))
def test_case(n, qahub_attach):
    if n % 3 == 0:
        qahub_attach(b"log of test %d\\n" % n, name="log-%03d.txt" % n)
    gate(n)
    if n % 10 == 3:
        pytest.skip("skipped on purpose")
    if n % 10 == 7:
        raise OSError("broken on purpose")
    assert n % 5 != 4, "failed on purpose"
"""

# Lets the outer test act at a chosen point of the session: at test n, write "at-n" and wait
# (bounded) for "go-n" in QAHUB_TEST_GATES when n is listed there.
GATES = """
import os
import time
from pathlib import Path


def gate(n):
    folder = os.environ.get("QAHUB_TEST_GATES")
    if not folder or str(n) not in os.environ.get("QAHUB_TEST_GATE_AT", "").split(","):
        return
    (Path(folder) / f"at-{n}").touch()
    deadline = time.monotonic() + 60
    while not (Path(folder) / f"go-{n}").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"nobody opened gate {n}")
        time.sleep(0.02)
"""

CONFTEST = """
def pytest_qahub_test_case(item):
    return "FLT-%03d" % item.callspec.params["n"]
"""


def expected_status(n: int) -> str:
    if n % 10 == 3:
        return "SKIPPED"
    if n % 10 == 7:
        return "BROKEN"
    return "FAILED" if n % 5 == 4 else "PASSED"


EXPECTED = {f"FLT-{n:03d}": expected_status(n) for n in range(COUNT)}


def expected_files(code: str) -> list[tuple[str, str]]:
    n = int(code.removeprefix("FLT-"))
    return [(f"log-{n:03d}.txt", f"log of test {n}\n")] if n % 3 == 0 else []


class Session:
    """One pytester directory holding the suite, and what is needed to run it and check it."""

    def __init__(self, pytester: pytest.Pytester, server: CollectorServer, run_id: str) -> None:
        self.pytester = pytester
        self.server = server
        self.run_id = run_id
        self.gates = pytester.path / "gates-dir"
        self.gates.mkdir()
        pytester.makeconftest(CONFTEST)
        pytester.makepyfile(gates=GATES, test_suite=SUITE)
        self.elapsed = 0.0

    def run(self, url: str, *args: str, gate_at: str = "", flush: float = FLUSH_S) -> pytest.RunResult:
        os.environ["QAHUB_TEST_GATE_AT"] = gate_at  # the pytester monkeypatch restores it
        started = time.monotonic()
        result = self.pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", f"--qahub-run={self.run_id}", f"--qahub-url={url}",
            "--qahub-batch-size=5", f"--qahub-flush-timeout={flush}", *args, timeout=120,
        )  # fmt: skip
        self.elapsed = time.monotonic() - started
        return result

    def wait_gate(self, n: int, timeout: float = 60.0) -> None:
        wait_until((self.gates / f"at-{n}").exists, timeout, f"the session reaching test {n}")

    def open_gate(self, n: int) -> None:
        (self.gates / f"go-{n}").touch()

    def pending(self) -> int:
        return sum(len(load(p).pending) for p in default_directory(self.pytester.path).glob("*.jsonl"))

    def replay(self) -> subprocess.CompletedProcess:
        """Run ``qahub replay`` once, to the URL the journal names (the fault has passed by then)."""
        env = {**os.environ, "QAHUB_TOKEN": self.server.token}
        return subprocess.run(
            [sys.executable, "-m", "collector.cli", "replay"],
            cwd=self.pytester.path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def assert_complete(self) -> None:
        """Exactly one row per test, with its status, after at most one replay."""
        waiting = self.pending()
        if waiting:
            replayed = self.replay()
            assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        # Shown with -rP: the figures docs/reliability.md quotes.
        print(f"session {self.elapsed:.1f} s, {COUNT - waiting} delivered in session, {waiting} by replay")
        assert self.pending() == 0
        rows = rows_by_code(self.server, self.run_id)
        assert {code: row["status"] for code, row in rows.items()} == EXPECTED
        # Every third test attached a log: its result holds exactly that one file, others none.
        files = {code: self.attachments(row["id"]) for code, row in rows.items()}
        assert files == {code: expected_files(code) for code in EXPECTED}

    def attachments(self, result_id: str) -> list[tuple[str, str]]:
        """The (name, content) of a result's attachments."""
        api, session = self.server.api, self.server.session
        listed = session.get(f"{api}/results/{result_id}/attachments", timeout=10).json()["data"]
        return [(a["fileName"], session.get(f"{api}/attachments/{a['id']}", timeout=10).text) for a in listed]


def assert_session_kept_its_exit_code(result: pytest.RunResult) -> None:
    result.assert_outcomes(passed=18, failed=9, skipped=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


@pytest.fixture
def session(
    start_server: ServerFactory, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Session:
    server = start_server()
    make_codes(server, "FLT", COUNT)
    for name in ("QAHUB_URL", "QAHUB_RUN", "QAHUB_BATCH_SIZE", "QAHUB_STRICT", "QAHUB_FLUSH_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QAHUB_TOKEN", server.token)
    built = Session(pytester, server, server.create_run("faults"))
    monkeypatch.setenv("QAHUB_TEST_GATES", str(built.gates))
    monkeypatch.setenv("QAHUB_TEST_GATE_AT", "")
    return built


def test_a_refused_connection_all_session_loses_nothing(session: Session) -> None:
    session.server.stop()  # nothing listens on its port for the whole session
    result = session.run(session.server.url)
    assert_session_kept_its_exit_code(result)
    assert session.elapsed < FLUSH_S + SLACK_S
    assert session.pending() == COUNT
    session.server.start()  # the same port: the journal's URL works again
    session.assert_complete()


def test_a_closed_port_is_refused() -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(closed_port_url().rsplit(":", 1)[1])), timeout=5)


@pytest.mark.parametrize("mode", ["503", "reset"])
def test_every_third_request_failing_loses_and_duplicates_nothing(session: Session, mode: str) -> None:
    with FaultProxy(session.server.url, mode, every=3) as proxy:
        result = session.run(proxy.url, flush=RETRY_FLUSH_S)
        assert_session_kept_its_exit_code(result)
        assert session.elapsed < RETRY_FLUSH_S + SLACK_S
        assert proxy.failures >= 2, proxy.requests
        # The client retried through the faults: nothing waits for a replay.
        result.stdout.fnmatch_lines(["sent 30, rejected 0, waiting in journal 0*"])
        assert session.pending() == 0
        session.assert_complete()


def test_answers_slower_than_the_client_timeout_end_the_session_on_time(session: Session) -> None:
    # Each third answer is held far beyond the client's read timeout: the flush bound, not the
    # network, decides when the session ends.
    hold = CLIENT_READ_TIMEOUT_S * 4
    with FaultProxy(session.server.url, "delay", every=3, delay=hold) as proxy:
        result = session.run(proxy.url)
        assert_session_kept_its_exit_code(result)
        assert session.elapsed < FLUSH_S + SLACK_S < hold
        assert proxy.failures >= 1
        proxy.mode = "none"  # the network is fast again for the replay
        session.assert_complete()


def test_a_collector_killed_mid_session_and_restarted_loses_nothing(session: Session) -> None:
    outcome: list[pytest.RunResult] = []
    runner = threading.Thread(
        target=lambda: outcome.append(session.run(session.server.url, gate_at="10,25")), daemon=True
    )
    runner.start()
    session.wait_gate(10)
    session.server.stop(kill=True)  # SIGKILL with results in flight
    session.open_gate(10)
    session.wait_gate(25)  # fifteen more tests ran against a dead collector
    session.server.start()  # same port, same database
    session.open_gate(25)
    runner.join(timeout=120)
    assert outcome, "the session did not end"
    assert_session_kept_its_exit_code(outcome[0])
    session.assert_complete()


def test_the_suite_runs_the_same_without_the_plugin(pytester: pytest.Pytester) -> None:
    # The baseline for "exit code unchanged": the same suite with no run configured.
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(gates=GATES, test_suite=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    assert_session_kept_its_exit_code(result)
