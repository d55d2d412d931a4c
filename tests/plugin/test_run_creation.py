"""End to end: ``--qahub-run-name`` creates the session's run (tagged), ``--qahub-complete`` closes it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pytest_qahub.delivery.replay import replay
from pytest_qahub.journal import default_directory, load
from tests.plugin.conftest import QAHubRun, make_cases
from tests.support.server import CollectorServer

SUITE = """
import pytest

@pytest.mark.qahub("RUN-1")
def test_one():
    pass

@pytest.mark.qahub("RUN-2")
def test_two():
    assert 1 == 2

@pytest.mark.qahub("RUN-3")
def test_three():
    pass

@pytest.mark.qahub("RUN-4")
def test_four():
    pass
"""

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REF_NAME": "main",
    "GITHUB_SHA": "4d2c0ffee4d2c0ffee4d2c0ffee4d2c0ffee4d2c",
    "GITHUB_SERVER_URL": "https://github.example",
    "GITHUB_REPOSITORY": "shop/web",
    "GITHUB_RUN_ID": "4242",
}


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def runs_named(server: CollectorServer, name: str) -> list[dict]:
    response = server.session.get(f"{server.api}/runs", params={"limit": 500}, timeout=10)
    response.raise_for_status()
    return [run for run in response.json()["data"] if run["name"] == name]


def get_run(server: CollectorServer, run_id: str) -> dict:
    response = server.session.get(f"{server.api}/runs/{run_id}", timeout=10)
    response.raise_for_status()
    return response.json()["data"]


@pytest.fixture
def suite(qahub_run: QAHubRun, monkeypatch: pytest.MonkeyPatch) -> QAHubRun:
    for name, value in GITHUB.items():
        monkeypatch.setenv(name, value)
    make_cases(qahub_run.server, "RUN-1", "RUN-2", "RUN-3", "RUN-4")
    qahub_run.pytester.makepyfile(test_suite=SUITE)
    return qahub_run


def test_a_run_name_creates_the_run_tagged_from_the_ci_and_complete_closes_it(suite: QAHubRun) -> None:
    name = unique("nightly")
    result = suite.pytester.runpytest_subprocess(
        f"--qahub-run-name={name}", "--qahub-complete", "--qahub-run-id-file=run-id.txt",
        "--qahub-environment=staging",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    run_id = (suite.pytester.path / "run-id.txt").read_text().strip()
    result.stdout.fnmatch_lines(
        [
            f"qahub: a new run '{name}' at {suite.server.url}",
            "*QAHub*",
            f"new run {run_id} '{name}' at {suite.server.url}/runs/{run_id}",
            "  its id is in run-id.txt",
            "sent 4, rejected 0, waiting in journal 0",
            f"run {run_id} marked COMPLETED",
        ]
    )
    run = get_run(suite.server, run_id)
    assert (run["name"], run["status"], run["environment"]) == (name, "COMPLETED", "staging")
    assert (run["branch"], run["commit"]) == ("main", GITHUB["GITHUB_SHA"])
    assert run["build_url"] == "https://github.example/shop/web/actions/runs/4242"
    assert suite.statuses(run_id) == {
        "RUN-1": "PASSED",
        "RUN-2": "FAILED",
        "RUN-3": "PASSED",
        "RUN-4": "PASSED",
    }


def test_the_settings_override_what_the_ci_says(suite: QAHubRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QAHUB_BRANCH", "release/2.0")
    suite.pytester.makeini("[pytest]\nqahub_commit = abc123\nqahub_complete = true\n")
    name = unique("tagged")
    suite.pytester.runpytest_subprocess(f"--qahub-run-name={name}", "--qahub-build-url=https://ci/7")
    (run,) = runs_named(suite.server, name)
    assert (run["branch"], run["commit"], run["build_url"]) == ("release/2.0", "abc123", "https://ci/7")
    assert run["status"] == "COMPLETED"  # from the ini


def test_without_complete_a_created_run_stays_open(suite: QAHubRun) -> None:
    name = unique("open")
    result = suite.pytester.runpytest_subprocess(f"--qahub-run-name={name}")
    result.stdout.no_fnmatch_line("*COMPLETED*")
    (run,) = runs_named(suite.server, name)
    assert run["status"] == "IN_PROGRESS"


def test_under_xdist_only_the_controller_creates_the_run(suite: QAHubRun) -> None:
    name = unique("xdist")
    result = suite.pytester.runpytest_subprocess(f"--qahub-run-name={name}", "--qahub-complete", "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    (run,) = runs_named(suite.server, name)
    assert run["status"] == "COMPLETED"
    assert len(suite.statuses(run["id"])) == 4


def test_tags_given_with_an_existing_run_are_set_on_it(suite: QAHubRun) -> None:
    suite.pytest("--qahub-branch=feature/cart", "--qahub-environment=qa")
    run = get_run(suite.server, suite.run_id)
    assert (run["branch"], run["environment"], run["commit"]) == ("feature/cart", "qa", None)
    assert run["status"] == "IN_PROGRESS"


def test_complete_closes_an_existing_run_too(suite: QAHubRun) -> None:
    suite.pytest("--qahub-complete").stdout.fnmatch_lines([f"run {suite.run_id} marked COMPLETED"])
    assert get_run(suite.server, suite.run_id)["status"] == "COMPLETED"


def test_a_run_and_a_run_name_together_are_a_usage_error(
    qahub_run: QAHubRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAHUB_RUN", "r1")
    qahub_run.pytester.makepyfile("def test_a(): pass")
    result = qahub_run.pytester.runpytest_subprocess("--qahub-run-name=nightly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: Both --qahub-run (from QAHUB_RUN) and --qahub-run-name (from --qahub-run-name) are set*"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--qahub-run-name= "],
            "ERROR: Invalid --qahub-run-name ' ' (from --qahub-run-name): must not be empty",
        ),
        (
            ["--qahub-run=r", "--qahub-commit=" + "a" * 101],
            "ERROR: Invalid --qahub-commit * must be at most 100*",
        ),
        (["--qahub-run=r", "--qahub-complete=maybe"], "*--qahub-complete: ignored explicit argument 'maybe'"),
    ],
)
def test_bad_run_settings_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_an_embedded_run_name_gets_a_new_id_each_session_and_is_completed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("QAHUB_URL", "QAHUB_TOKEN", "QAHUB_RUN", "QAHUB_DATABASE_URL", "QAHUB_STORAGE_DIR"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_suite=SUITE)
    first = pytester.runpytest_subprocess("--qahub-run-name=laptop", "--qahub-run-id-file=id")
    first_id = (pytester.path / "id").read_text().strip()
    first.stdout.fnmatch_lines(
        [
            f"new run {first_id} 'laptop' in .qahub/qahub.db (embedded collector)",
            f"run {first_id} marked COMPLETED",
        ]
    )
    pytester.runpytest_subprocess("--qahub-run-name=laptop", "--qahub-run-id-file=id", "--qahub-no-complete")
    second_id = (pytester.path / "id").read_text().strip()
    assert second_id != first_id
    listing = qahub_local(pytester.path, "run", "list").stdout
    assert f"{first_id}  laptop  COMPLETED" in listing
    assert f"{second_id}  laptop  IN_PROGRESS" in listing


def qahub_local(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QAHUB_")}
    done = subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def test_a_run_the_collector_was_down_for_is_created_and_completed_by_the_replay(
    fresh_server: CollectorServer, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAHUB_URL", fresh_server.url)
    monkeypatch.setenv("QAHUB_TOKEN", fresh_server.token)
    for name, value in GITHUB.items():
        monkeypatch.setenv(name, value)
    make_cases(fresh_server, "RUN-1", "RUN-2", "RUN-3", "RUN-4")
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "run-id.txt").write_text("an id from an earlier build\n")
    fresh_server.stop()
    result = pytester.runpytest_subprocess(
        "--qahub-run-name=down", "--qahub-complete", "--qahub-run-id-file=run-id.txt"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # pytest's own outcome
    result.stdout.fnmatch_lines(
        [
            "run 'down' not created: the collector was not reached",
            "sent 0, rejected 0, waiting in journal 4",
            "  not delivered: * cannot be reached: *",
            "  send them later with: qahub replay .qahub/journal/*.jsonl (it creates the run)",
            "run 'down' not marked COMPLETED: the collector could not be reached; "
            "qahub replay marks it COMPLETED once it has delivered them",
        ]
    )
    assert not (pytester.path / "run-id.txt").exists()  # no stale id for a later step

    fresh_server.start()  # back, on the same port
    journals = sorted(default_directory(pytester.path).glob("*.jsonl"))
    out = io.StringIO()
    assert replay(journals, None, fresh_server.token, out) == 0, out.getvalue()
    (run,) = runs_named(fresh_server, "down")
    assert f"created run {run['id']} 'down'" in out.getvalue()
    assert f"run {run['id']} marked COMPLETED" in out.getvalue()
    assert (run["status"], run["branch"]) == ("COMPLETED", "main")
    assert len(fresh_server.results(run["id"])) == 4
    assert load(journals[0]).run_id == run["id"]
    again = io.StringIO()
    assert replay(journals, None, fresh_server.token, again) == 0
    assert "nothing to send" in again.getvalue()
    assert len(runs_named(fresh_server, "down")) == 1
