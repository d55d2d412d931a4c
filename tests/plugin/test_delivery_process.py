"""End to end: delivery runs in a process of its own, which follows the session's journal."""

from __future__ import annotations

import io
import signal
import subprocess
import sys

import pytest

from pytest_qahub.delivery.replay import replay
from tests.plugin.conftest import QAHubRun, make_cases
from tests.support.waiting import wait_until

LEAN = """
import sys

import pytest

HEAVY = ("requests", "urllib3", "collector", "peewee", "falcon", "pydantic")


@pytest.mark.qahub("LEAN-1")
def test_the_test_process_stays_lean():
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in HEAVY)
    assert loaded == []
"""

KILLED = """
import os
import signal

import pytest


@pytest.mark.qahub("KILL-1")
def test_one():
    pass


@pytest.mark.qahub("KILL-2")
def test_two():
    assert False


@pytest.mark.qahub("KILL-3")
def test_killed():
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_test_process_never_imports_the_http_client_or_the_collector(
    qahub_run: QAHubRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # other plugins may import requests
    make_cases(qahub_run.server, "LEAN-1")
    qahub_run.pytester.makepyfile(LEAN)
    result = qahub_run.pytest("-p", "pytest_qahub.plugin")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["sent 1, rejected 0, waiting in journal 0*"])
    assert qahub_run.statuses() == {"LEAN-1": "PASSED"}


def test_results_journaled_before_pytest_is_killed_are_still_delivered(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "KILL-1", "KILL-2", "KILL-3")
    qahub_run.pytester.makepyfile(KILLED)
    result = qahub_run.pytest()
    assert result.ret == -signal.SIGKILL
    # The delivery process sees its input end, sends what the journal holds, and marks it.
    wait_until(lambda: len(qahub_run.server.results(qahub_run.run_id)) == 2, 30, "two results delivered")
    wait_until(lambda: qahub_run.pending() == 0, 30, "the journal marked delivered")
    assert qahub_run.statuses() == {"KILL-1": "PASSED", "KILL-2": "FAILED"}


def test_the_delivery_process_starts_without_loading_pytest() -> None:
    # It starts while pytest collects: the less it imports, the sooner a short session's run check
    # is answered.
    check = (
        "import sys, pytest_qahub.delivery.process, pytest_qahub.delivery.http\n"
        "import pytest_qahub.delivery.embedded\n"
        "assert 'pytest' not in sys.modules and '_pytest' not in sys.modules"
    )
    subprocess.run([sys.executable, "-P", "-c", check], check=True, timeout=60)


BROKEN_ENVIRONMENT = """
import os
import sys

if "pytest_qahub.delivery" in sys.orig_argv:
    sys.stderr.write("this environment cannot run the delivery process\\n")
    os._exit(3)
"""


def test_a_delivery_process_that_dies_at_start_leaves_every_result_in_the_journal(
    qahub_run: QAHubRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cases(qahub_run.server, "KILL-1", "KILL-2", "KILL-3")
    site = qahub_run.pytester.mkdir("site")
    (site / "sitecustomize.py").write_text(BROKEN_ENVIRONMENT)
    monkeypatch.setenv("PYTHONPATH", str(site))
    qahub_run.pytester.makepyfile(KILLED.replace("os.kill(os.getpid(), signal.SIGKILL)", "pass"))
    result = qahub_run.pytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # pytest's own verdict, nothing more
    result.stdout.fnmatch_lines(
        [
            "*QAHub: the delivery process failed: this environment cannot run the delivery process*",
            "sent 0, rejected 0, waiting in journal 3*",
        ]
    )
    assert qahub_run.statuses() == {}
    assert qahub_run.pending() == 3
    out = io.StringIO()
    assert replay(qahub_run.journals(), None, qahub_run.server.token, out) == 0, out.getvalue()
    assert qahub_run.statuses() == {"KILL-1": "PASSED", "KILL-2": "FAILED", "KILL-3": "PASSED"}
