"""End to end: with the plugin on, pytest's exit code, counts and warnings are what they are without it.

Under ``filterwarnings = error`` and ``-W error`` too, with the collector embedded or unreachable,
serial or under xdist: nothing the plugin opens may be left for the garbage collector to warn
about, and its own notices never become errors.
"""

from __future__ import annotations

import gc
import re
import threading
import warnings
from pathlib import Path

import pytest

from pytest_qahub.delivery.handle import DeliveryProcess
from pytest_qahub.journal import default_directory, load
from tests.plugin.conftest import make_cases
from tests.support.faults import FaultProxy
from tests.support.server import CollectorServer

SUITE = """
import pytest

@pytest.mark.qahub("SAME-1")
def test_one():
    pass

@pytest.mark.qahub("SAME-2")
@pytest.mark.parametrize("n", range(5))
def test_many(n):
    pass

@pytest.mark.qahub("SAME-3")
def test_last():
    pass
"""

ERRORS_INI = "[pytest]\nfilterwarnings =\n    error\n"
#: Nothing listens there (the discard port).
UNREACHABLE = "--qahub-url=http://127.0.0.1:9"


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("QAHUB_URL", "QAHUB_TOKEN", "QAHUB_RUN", "QAHUB_DATABASE_URL", "QAHUB_STORAGE_DIR"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def verdict(result: pytest.RunResult) -> tuple[int, dict[str, int], list[str]]:
    """What pytest concluded: exit code, outcome counts, and its warnings summary."""
    text = result.stdout.str()
    warnings = re.search(r"=+ warnings summary =+\n(.*?)\n-- Docs", text, re.S)
    return int(result.ret), result.parseoutcomes(), warnings.group(1).splitlines() if warnings else []


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)


@pytest.mark.parametrize(
    ("ini", "args"),
    [
        pytest.param(ERRORS_INI, ["--qahub-run=r"], id="embedded-filterwarnings-error"),
        pytest.param(None, ["-W", "error", "--qahub-run=r"], id="embedded-W-error"),
        pytest.param(None, ["-W", "once::Warning", "--qahub-run=r"], id="embedded-W-once"),
        pytest.param(ERRORS_INI, ["--qahub-run=r", UNREACHABLE], id="unreachable-filterwarnings-error"),
        pytest.param(None, ["-W", "error", "--qahub-run=r", UNREACHABLE], id="unreachable-W-error"),
        pytest.param(ERRORS_INI, ["-n", "2", "--qahub-run=r"], id="embedded-xdist"),
        pytest.param(
            ERRORS_INI,
            ["-n", "2", "--qahub-run=r", UNREACHABLE],
            id="unreachable-xdist",
        ),
    ],
)
def test_the_plugin_changes_neither_exit_code_nor_counts_nor_warnings(
    suite: pytest.Pytester, ini: str | None, args: list[str]
) -> None:
    if ini:
        suite.makeini(ini)
    plugin_args = [arg for arg in args if arg.startswith("--qahub")]
    without = run(suite, *[arg for arg in args if arg not in plugin_args])
    with_plugin = run(suite, *args)
    assert verdict(with_plugin) == verdict(without), with_plugin.stdout.str() + with_plugin.stderr.str()
    assert verdict(without) == (0, {"passed": 7}, [])
    assert "Exception ignored" not in with_plugin.stderr.str()
    with_plugin.stdout.fnmatch_lines(["*QAHub*", "sent *"])  # the plugin did run


def test_an_unreachable_collector_leaves_every_result_passed_in_the_journal(suite: pytest.Pytester) -> None:
    suite.makeini(ERRORS_INI)
    result = run(suite, "--qahub-run=r", UNREACHABLE)
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(
        ["*QAHub collector http://127.0.0.1:9 cannot be reached*", "*3 results wait in *.jsonl"]
    )
    (journal,) = default_directory(suite.path).glob("*.jsonl")
    statuses = {entry.payload["test_case_code"]: entry.payload["status"] for entry in load(journal).pending}
    assert statuses == {"SAME-1": "PASSED", "SAME-2": "PASSED", "SAME-3": "PASSED"}


def test_a_collector_answering_503_changes_nothing_and_gets_every_result(
    suite: pytest.Pytester, collector_server: CollectorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makeini(ERRORS_INI)
    make_cases(collector_server, "SAME-1", "SAME-2", "SAME-3")
    run_id = collector_server.create_run("flaky")
    monkeypatch.setenv("QAHUB_TOKEN", collector_server.token)
    without = run(suite)
    with FaultProxy(collector_server.url, "503", every=2) as proxy:
        with_plugin = run(suite, f"--qahub-run={run_id}", f"--qahub-url={proxy.url}")
    assert verdict(with_plugin) == verdict(without), with_plugin.stdout.str() + with_plugin.stderr.str()
    with_plugin.stdout.fnmatch_lines(["sent 3, rejected 0, waiting in journal 0*"])
    assert len(collector_server.results(run_id)) == 3


def test_with_pytest_warnings_off_the_summary_gives_the_notice(suite: pytest.Pytester) -> None:
    result = run(suite, "-p", "no:warnings", "--qahub-run=r", UNREACHABLE)
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(
        ["QAHub collector http://127.0.0.1:9 cannot be reached*", "  not delivered: *"]
    )


def start_delivery(root: Path) -> DeliveryProcess:
    job = {"run": "r", "url": None, "token": None, "root": str(root), "batch_size": 1, "flush_timeout": 1}
    return DeliveryProcess(job)


def test_a_stopped_delivery_process_leaves_nothing_open(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        delivery = start_delivery(tmp_path)
        assert delivery.answer(60) is not None
        delivery.stop(5)
        delivery.stop()  # twice is fine
        assert delivery.why()  # still says something once its stderr file is closed
        assert not delivery.running
        del delivery
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert "qahub-delivery-answers" not in [thread.name for thread in threading.enumerate()]


def test_a_delivery_process_that_prints_other_lines_still_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sitecustomize that prints must not cut the test process off its delivery process.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("print('hello from sitecustomize')\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    delivery = start_delivery(tmp_path)
    try:
        answer = delivery.answer(60)
        assert answer is not None and answer["event"] == "ready", delivery.why()
    finally:
        delivery.stop(5)
