"""End to end: the README's team flow, where CI is another machine sharing nothing with the
collector but its URL and a token.

The collector is a real ``qahub serve`` working in directory A. The "CI machine" is directory
B, with a HOME of its own and an environment naming neither A nor its database; it runs the
README's commands word for word (the collector's name replaced by the server's address).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from collector.embedded import EmbeddedCollector, embedded_settings
from tests.support.server import CollectorServer, qahub

README = Path(__file__).resolve().parent.parent / "README.md"
PLACEHOLDER = "http://collector:8080"

SUITE = """
import pytest

@pytest.mark.qahub("SHOP-1")
def test_an_empty_basket_costs_nothing():
    assert sum([]) == 0

@pytest.mark.qahub("SHOP-2")
@pytest.mark.parametrize("count", [1, 2])
def test_apples_cost_half_a_unit_each(count):
    assert count * 0.5 == count / 2

@pytest.mark.qahub("SHOP-4")
@pytest.mark.skip(reason="checkout is not built yet")
def test_checkout_charges_the_card():
    raise AssertionError("unreachable")
"""

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REF_NAME": "main",
    "GITHUB_SHA": "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "shop/web",
    "GITHUB_RUN_ID": "1001",
}


def readme_blocks() -> list[str]:
    """The ``sh`` blocks of the README's "With a team collector" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## With a team collector", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


#: Where ``qahub`` and ``pytest`` are installed (this interpreter's environment).
TOOLS = str(Path(sys.executable).parent)


def ci_environment(home: Path, **variables: str) -> dict[str, str]:
    """A CI machine's environment: its own HOME, the tools on PATH, nothing of the collector's host,
    and ``CI`` as every CI service sets it (so no delivery process outlives the job)."""
    return {
        "CI": "true",
        "PATH": os.pathsep.join([TOOLS, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTEST_ADDOPTS": "-p no:cacheprovider -p no:schemathesis -p no:hypothesispytest -p no:anyio",
        **variables,
    }


def run_block(block: str, url: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    script = "set -eu\n" + block.replace(PLACEHOLDER, url)
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


@pytest.fixture
def collector_host(tmp_path: Path) -> CollectorServer:
    """Directory A: the collector's host, with the suite's test cases."""
    server = CollectorServer(tmp_path / "A")
    for code in ("SHOP-1", "SHOP-2", "SHOP-4"):
        qahub(server.env, "case", "create", code, f"{code} title", cwd=server.workdir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ci_machine(tmp_path: Path) -> Path:
    """Directory B: the CI machine's checkout, and its own HOME."""
    checkout = tmp_path / "B"
    (checkout / "home").mkdir(parents=True)
    (checkout / "test_shop.py").write_text(SUITE)
    return checkout


def stored_results(server: CollectorServer, run_id: str) -> tuple[dict, dict[str, str]]:
    """The run and its results as the collector's own database (in A) holds them."""
    collector = EmbeddedCollector(embedded_settings(server.workdir, server.database_url))
    try:
        results = collector.list_results(run_id)
        return collector.get_run(run_id), {r["test_case_code"]: r["status"] for r in results}
    finally:
        collector.close()


EXPECTED = {"SHOP-1": "PASSED", "SHOP-2": "PASSED", "SHOP-4": "SKIPPED"}


def test_the_readme_team_flow_runs_on_a_machine_that_shares_only_the_url(
    collector_host: CollectorServer, ci_machine: Path
) -> None:
    host, ci, one_step = readme_blocks()
    # The host block's token line, word for word, in A (the server itself is `qahub serve`).
    token_line = next(line for line in host.splitlines() if line.startswith("qahub token create"))
    host_env = {**collector_host.env, "PATH": os.pathsep.join([TOOLS, os.environ.get("PATH", "")])}
    token = run_block(token_line, "", collector_host.workdir, host_env)
    assert token.returncode == 0, token.stderr
    token_text = token.stdout.strip()
    assert token_text.startswith("qh_")

    env = ci_environment(ci_machine / "home", QAHUB_URL=collector_host.url, QAHUB_TOKEN=token_text)
    done = run_block(ci, collector_host.url, ci_machine, env)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = re.search(r"^Run (\S+) \(nightly\): IN_PROGRESS$", done.stdout, flags=re.MULTILINE)[1]
    assert f"run {run_id} at {collector_host.url}/runs/{run_id}" in done.stdout
    assert "sent 3, rejected 0, waiting in journal 0" in done.stdout
    assert "3 results: 2 passed, 1 skipped" in done.stdout
    assert f"Run {run_id}: no earlier run to compare with" in done.stdout  # `qahub diff`, the gate
    run, statuses = stored_results(collector_host, run_id)
    assert (run["name"], statuses) == ("nightly", EXPECTED)

    env = ci_environment(ci_machine / "home", QAHUB_TOKEN=token_text, **GITHUB)
    done = run_block(one_step, collector_host.url, ci_machine, env)
    assert done.returncode == 0, done.stdout + done.stderr
    new_id = (ci_machine / "qahub-run-id").read_text().strip()
    assert new_id != run_id
    for line in (
        f"new run {new_id} 'nightly' at {collector_host.url}/runs/{new_id}",
        f"run {new_id} marked COMPLETED",
        f"Run {new_id} (nightly): COMPLETED",
        "3 results: 2 passed, 1 skipped",
    ):
        assert line in done.stdout, done.stdout
    run, statuses = stored_results(collector_host, new_id)
    assert statuses == EXPECTED
    assert (run["status"], run["branch"], run["commit"]) == ("COMPLETED", "main", GITHUB["GITHUB_SHA"])
    assert run["build_url"] == "https://github.com/shop/web/actions/runs/1001"

    # Nothing of a database was made on the CI machine: everything went to A's.
    assert not (ci_machine / ".qahub" / "qahub.db").exists()
    assert list(ci_machine.rglob("*.db")) == []
