"""``qahub diff RUN``: the CI gate that fails only on new failures not known to be flaky."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.server import CollectorServer


def diff(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "diff", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def post(server: CollectorServer, run_id: str, statuses: dict[str, str]) -> None:
    results = [{"test_case_code": code, "status": status} for code, status in statuses.items()]
    server.session.post(
        f"{server.api}/runs/{run_id}/results", json={"results": results}, timeout=10
    ).raise_for_status()


def new_run(server: CollectorServer, name: str, branch: str) -> str:
    response = server.session.post(f"{server.api}/runs", json={"name": name, "branch": branch}, timeout=10)
    response.raise_for_status()
    return response.json()["data"]["id"]


@pytest.fixture
def client_env(collector_server: CollectorServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QAHUB_")}
    return {**env, "QAHUB_URL": collector_server.url, "QAHUB_TOKEN": collector_server.token}


def test_diff_fails_only_on_new_failures_that_are_not_flaky(
    collector_server: CollectorServer, client_env: dict[str, str], tmp_path: Path
) -> None:
    # The server is shared by the session's tests: a branch and codes of this test's own.
    branch, tag = f"diff-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
    d1, d2, d3 = (f"D{tag}-{n}" for n in (1, 2, 3))
    for code in (d1, d2, d3):
        collector_server.create_case(code)
    first = new_run(collector_server, "first", branch)
    assert "no earlier run to compare with" in diff(client_env, tmp_path, first).stdout
    post(collector_server, first, {d1: "PASSED", d2: "FAILED", d3: "PASSED"})
    second = new_run(collector_server, "second", branch)
    post(collector_server, second, {d1: "FAILED", d2: "PASSED", d3: "PASSED"})

    done = diff(client_env, tmp_path, second)
    assert done.returncode == 1, done.stderr
    assert f"compared with {first} (first)" in done.stdout
    assert f"  new failures: 1\n    {d1}\n" in done.stdout
    assert f"  fixed: 1\n    {d2}\n" in done.stdout
    assert "1 new failure(s) not known to be flaky" in done.stdout

    third = new_run(collector_server, "third", branch)
    post(collector_server, third, {d1: "PASSED", d2: "PASSED", d3: "PASSED"})
    assert diff(client_env, tmp_path, third).returncode == 0  # fixed: nothing new
    fourth = new_run(collector_server, "fourth", branch)
    post(collector_server, fourth, {d1: "FAILED", d2: "PASSED", d3: "PASSED"})
    flaky = diff(client_env, tmp_path, fourth)  # the first flipped twice: flaky, not a regression
    assert flaky.returncode == 0, flaky.stdout
    assert f"    {d1}  (flaky)" in flaky.stdout
    assert diff(client_env, tmp_path, second, "--base", third).returncode == 1


def test_diff_works_on_the_local_database_and_names_an_unknown_run(tmp_path: Path) -> None:
    from collector.embedded import EmbeddedCollector, embedded_settings

    env = {k: v for k, v in os.environ.items() if not k.startswith("QAHUB_")}
    collector = EmbeddedCollector(embedded_settings(tmp_path))
    try:
        collector.create_case("L-1", "one")
        base = collector.ensure_run("base")["id"]
        collector.post_results(base, [{"test_case_code": "L-1", "status": "PASSED"}])
        head = collector.ensure_run("head")["id"]
        collector.post_results(head, [{"test_case_code": "L-1", "status": "BROKEN"}])
    finally:
        collector.close()
    done = diff(env, tmp_path, head, "--base", base)
    assert done.returncode == 1, done.stderr
    assert "  new failures: 1\n    L-1\n" in done.stdout
    missing = diff(env, tmp_path, "nope")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "nope" in missing.stderr


def test_the_summary_says_what_is_new_since_the_previous_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_shop="""
        import os, pytest

        @pytest.mark.qahub("SHOP-1")
        def test_pear():
            assert os.environ.get("BREAK") != "pear"

        @pytest.mark.qahub("SHOP-2")
        def test_apple():
            assert os.environ.get("BREAK") != "apple"
        """
    )
    monkeypatch.setenv("BREAK", "apple")
    first = pytester.runpytest_subprocess("--qahub-run=r1")
    first.assert_outcomes(passed=1, failed=1)
    assert "new failures since" not in first.stdout.str()  # nothing to compare with yet
    monkeypatch.setenv("BREAK", "pear")
    second = pytester.runpytest_subprocess("--qahub-run=r2")
    second.assert_outcomes(passed=1, failed=1)
    second.stdout.fnmatch_lines(["1 new failures since r1 (r1), 1 fixed", "  new: SHOP-1", "  fixed: SHOP-2"])
