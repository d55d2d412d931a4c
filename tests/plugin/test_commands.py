"""The ``qahub`` data commands over a collector's API (a real ``qahub serve``) and on the local database."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from collector.embedded import EmbeddedCollector, embedded_settings
from tests.support.server import CollectorServer, qahub


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


@pytest.fixture
def client_env(collector_server: CollectorServer) -> dict[str, str]:
    """A client's environment: the collector's URL and token, and nothing of its database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QAHUB_")}
    return {**env, "QAHUB_URL": collector_server.url, "QAHUB_TOKEN": collector_server.token}


@pytest.fixture
def local_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("QAHUB_")}


def test_every_data_command_works_over_the_api_and_leaves_no_local_database(
    client_env: dict[str, str], collector_server: CollectorServer, tmp_path: Path
) -> None:
    run_id = qahub(client_env, "run", "create", "--name", "remote", "--branch", "main", cwd=tmp_path).strip()
    assert collector_server.session.get(f"{collector_server.api}/runs/{run_id}", timeout=10).ok
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([{"code": "CLI-1", "title": "One"}, {"code": "CLI-2", "title": "Two"}]))
    assert "Imported 2 new test cases (0 already existed)" in qahub(
        client_env, "case", "import", str(cases), cwd=tmp_path
    )
    assert "Imported 0 new test cases (2 already existed)" in qahub(
        client_env, "case", "import", str(cases), cwd=tmp_path
    )
    case_id = qahub(client_env, "case", "create", "CLI-3", "Three", cwd=tmp_path).strip()
    assert (
        collector_server.session.get(f"{collector_server.api}/cases/CLI-3", timeout=10).json()["data"]["id"]
        == case_id
    )
    collector_server.session.post(
        f"{collector_server.api}/runs/{run_id}/results",
        json={"results": [{"test_case_code": "CLI-1", "status": "FAILED", "error_message": "boom\nmore"}]},
        timeout=10,
    ).raise_for_status()
    table = qahub(client_env, "results", run_id, cwd=tmp_path)
    assert table.splitlines()[0] == f"Run {run_id} (remote): IN_PROGRESS"
    assert "CLI-1  FAILED" in table and "boom" in table and "more" not in table
    assert "1 results: 1 failed" in table
    assert "0 results: no results" in qahub(client_env, "results", run_id, "--status", "PASSED", cwd=tmp_path)
    listing = qahub(client_env, "run", "list", "--limit", "500", cwd=tmp_path)
    assert listing.splitlines()[0].split() == ["ID", "NAME", "STATUS", "BRANCH", "COMMIT", "CREATED"]
    assert any(line.startswith(f"{run_id}  remote") and "  main  " in line for line in listing.splitlines())
    assert f"Run {run_id} is COMPLETED" in qahub(client_env, "run", "complete", run_id, cwd=tmp_path)
    assert (
        collector_server.session.get(f"{collector_server.api}/runs/{run_id}", timeout=10).json()["data"][
            "status"
        ]
        == "COMPLETED"
    )
    assert not (tmp_path / ".qahub").exists()


def test_url_option_wins_over_the_environment(
    client_env: dict[str, str], collector_server: CollectorServer, tmp_path: Path
) -> None:
    env = {**client_env, "QAHUB_URL": "http://127.0.0.1:9"}
    run_id = qahub(env, "run", "create", "--url", collector_server.url, cwd=tmp_path).strip()
    assert collector_server.session.get(f"{collector_server.api}/runs/{run_id}", timeout=10).ok


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("token", "list"), "qahub: error: qahub token list works on the collector's own database only"),
        (("token", "create"), "qahub: error: qahub token create works on the collector's own database only"),
        (("project", "create", "web"), "qahub: error: qahub project create works on the collector's own"),
    ],
)
def test_admin_commands_refuse_to_run_with_a_url_in_one_line(
    client_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = run(client_env, tmp_path, *args)
    assert done.returncode == 2
    assert done.stderr.startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / ".qahub").exists()


def test_a_token_that_cannot_write_lists_but_does_not_create(
    client_env: dict[str, str], collector_server: CollectorServer, tmp_path: Path
) -> None:
    read_only = qahub(collector_server.env, "token", "create", "--scopes", "read").strip()
    env = {**client_env, "QAHUB_TOKEN": read_only}
    assert run(env, tmp_path, "run", "list").returncode == 0
    done = run(env, tmp_path, "run", "create", "--name", "x")
    assert done.returncode == 2
    assert "the token's scopes are read; it needs write" in done.stderr


@pytest.mark.parametrize(
    ("env_change", "code", "message"),
    [
        (
            {"QAHUB_TOKEN": "qh_no_such"},
            2,
            "the token was rejected (HTTP 401*pass a token with read scopes in QAHUB_TOKEN",
        ),
        ({"QAHUB_TOKEN": ""}, 2, "no token was given*"),
        ({"QAHUB_URL": "http://[::1"}, 2, "Invalid QAHUB_URL 'http://[::1': cannot be parsed*"),
        (
            {"QAHUB_URL": "http://127.0.0.1:9"},
            1,
            "the collector cannot be reached or failed: *Connection refused",
        ),
    ],
)
def test_a_bad_url_or_token_is_explained_in_one_line(
    client_env: dict[str, str],
    tmp_path: Path,
    env_change: dict[str, str],
    code: int,
    message: str,
) -> None:
    done = run({**client_env, **env_change}, tmp_path, "run", "list")
    assert done.returncode == code
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert fnmatch.fnmatch(done.stderr.strip(), f"qahub: *{message}"), done.stderr


def test_project_selects_the_local_project_and_must_match_the_token_remotely(
    local_env: dict[str, str], client_env: dict[str, str], tmp_path: Path
) -> None:
    qahub(local_env, "project", "create", "web", cwd=tmp_path)
    run_id = qahub(local_env, "run", "create", "--project", "web", "--name", "in-web", cwd=tmp_path).strip()
    assert run_id in qahub(local_env, "run", "list", "--project", "web", cwd=tmp_path)
    assert run_id not in qahub(local_env, "run", "list", cwd=tmp_path)
    missing = run(local_env, tmp_path, "run", "list", "--project", "nope")
    assert (missing.returncode, missing.stderr.strip()) == (1, "qahub: No project with key 'nope'")
    remote = run(client_env, tmp_path, "run", "list", "--project", "web")
    assert remote.returncode == 2
    assert "the token belongs to project 'default'" in remote.stderr


def test_results_piped_into_head_stops_quietly(local_env: dict[str, str], tmp_path: Path) -> None:
    run_id = qahub(local_env, "run", "create", cwd=tmp_path).strip()
    codes = [f"PIPE-{n:05d}" for n in range(3000)]
    (tmp_path / "cases.csv").write_text("code,title\n" + "".join(f"{c},t\n" for c in codes))
    qahub(local_env, "case", "import", "cases.csv", cwd=tmp_path)
    collector = EmbeddedCollector(embedded_settings(tmp_path))
    try:
        for start in range(0, len(codes), 1000):
            results = [{"test_case_code": c, "status": "PASSED"} for c in codes[start : start + 1000]]
            collector.post_results(run_id, results)
    finally:
        collector.close()
    done = subprocess.run(
        f"{sys.executable} -m collector.cli results {run_id} | head -3",
        shell=True, cwd=tmp_path, env=local_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.splitlines()[2].startswith("PIPE-00000")
    assert done.stderr == ""


def test_a_token_on_the_command_line_is_warned_about(
    client_env: dict[str, str], collector_server: CollectorServer, tmp_path: Path
) -> None:
    done = run(client_env, tmp_path, "replay", "--token", collector_server.token)
    assert done.returncode == 0
    assert "a token given with --token is visible to every user of this machine" in done.stderr


def test_the_collector_finds_the_commands_without_importing_the_plugin(local_env: dict[str, str]) -> None:
    check = "import sys, collector.cli; print('pytest_qahub' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", check], env=local_env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False"
    help_text = qahub(local_env, "--help")
    for command in ("run", "case", "results", "replay"):
        assert f"    {command} " in help_text
