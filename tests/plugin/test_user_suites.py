"""End to end: what real suites hold — doctests, folders with brackets, class markers, hooks that raise.

Each session reports to the embedded collector; the journal says what was sent for each case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_qahub.journal import Entry, default_directory, load

DOCTESTS = '''
def add(a, b):
    """Add two numbers.

    >>> add(1, 2)
    3
    """
    return a + b - 1


def parse(text):
    """Parse a number.

    >>> parse("x")
    0
    """
    raise ValueError(f"not a number: {text!r}")


def fine():
    """
    >>> fine()
    'fine'
    """
    return "fine"
'''


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("QAHUB_URL", "QAHUB_TOKEN", "QAHUB_RUN", "QAHUB_DATABASE_URL", "QAHUB_STORAGE_DIR"):
        monkeypatch.delenv(name, raising=False)
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess("-p", "no:cacheprovider", "--qahub-run=r", *args, timeout=120)


def journaled(root: Path) -> dict[str, Entry]:
    """The session's journaled results by test case code."""
    (journal,) = default_directory(root).glob("*.jsonl")
    entries = {entry.payload["test_case_code"]: entry for entry in load(journal).entries}
    assert len(entries) == len(load(journal).entries)
    return entries


def test_a_doctest_whose_output_differs_fails_and_one_that_raises_is_broken(suite: pytest.Pytester) -> None:
    suite.makepyfile(arith=DOCTESTS)
    result = run(suite, "--doctest-modules")
    result.assert_outcomes(passed=1, failed=2)
    rows = {code: entry.payload for code, entry in journaled(suite.path).items()}
    assert {code: row["status"] for code, row in rows.items()} == {
        "arith.py::arith.add": "FAILED",
        "arith.py::arith.parse": "BROKEN",
        "arith.py::arith.fine": "PASSED",
    }
    assert rows["arith.py::arith.add"]["error_message"] == "Expected: 3 / Got: 2"
    assert rows["arith.py::arith.parse"]["error_message"] == "ValueError: not a number: 'x'"
    assert "Expected:" in rows["arith.py::arith.add"]["error_stack"]


def test_doctests_that_go_on_after_a_failure_report_their_worst_example(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        arith='''
        def both():
            """
            >>> int("x")
            0
            >>> 1 + 1
            3
            """
        '''
    )
    run(suite, "--doctest-modules", "--doctest-continue-on-failure").assert_outcomes(failed=1)
    row = journaled(suite.path)["arith.py::arith.both"].payload
    assert (row["status"], row["error_message"]) == ("FAILED", "Expected: 3 / Got: 2")


def test_brackets_in_a_folder_name_are_no_parametrization(suite: pytest.Pytester) -> None:
    folder = suite.mkdir("cases[v2]")
    (folder / "test_a.py").write_text(
        "import pytest\n\n"
        "def test_one():\n    pass\n\n"
        "@pytest.mark.parametrize('n', [1, 2])\ndef test_param(n):\n    pass\n"
    )
    (folder / "test_b.py").write_text("def test_two():\n    pass\n")
    run(suite).assert_outcomes(passed=4)
    entries = journaled(suite.path)
    assert {code: entry.create_title for code, entry in entries.items()} == {
        "cases[v2]/test_a.py::test_one": "test_one",
        "cases[v2]/test_a.py::test_param": "test_param",
        "cases[v2]/test_b.py::test_two": "test_two",
    }


def test_a_class_marker_names_its_case_after_the_class(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_search='''
        import pytest

        @pytest.mark.qahub("SEARCH-1")
        class TestSearch:
            """Searching the catalogue.

            Every way a shopper looks for a product.
            """

            def test_by_name(self):
                pass

            def test_by_price(self):
                pass

        @pytest.mark.qahub("SEARCH-2")
        class TestWithoutDocstring:
            def test_first(self):
                pass

        pytestmark = []
        '''
    )
    run(suite).assert_outcomes(passed=3)
    entries = journaled(suite.path)
    assert entries["SEARCH-1"].create_title == "Searching the catalogue."
    assert entries["SEARCH-2"].create_title == "TestWithoutDocstring"


RAISING_HOOKS = """
def pytest_qahub_test_case(item):
    if "boom" in item.name:
        raise LookupError("no code for " + item.name)
    return None

def pytest_qahub_result(item, result):
    if "adjust" in item.name:
        raise RuntimeError("cannot adjust " + item.name)
    if "spoil" in item.name:
        result["comment"] = object()
"""

RAISING_SUITE = """
import pytest

def test_boom_first():
    pass

def test_boom_second():
    pass

@pytest.mark.qahub("HOOK-1")
def test_adjust():
    assert True

@pytest.mark.qahub("HOOK-2")
def test_spoil():
    pass

@pytest.mark.qahub(1, 2)
def test_bad_marker():
    pass
"""


@pytest.mark.parametrize("warnings", ["default", "error"])
def test_hooks_that_raise_and_a_bad_marker_cost_the_session_nothing(
    suite: pytest.Pytester, warnings: str
) -> None:
    suite.makeconftest(RAISING_HOOKS)
    suite.makepyfile(test_hooks=RAISING_SUITE)
    result = run(suite, "-W", warnings)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=5, warnings=4 if warnings == "default" else 0)
    notices = [
        "*QAHub: pytest_qahub_test_case raised LookupError: no code for test_boom_first "
        "for test_hooks.py::test_boom_first; the tests it raises for are treated as unmapped",
        "*QAHub: @pytest.mark.qahub(1, 2) {} on test_hooks.py::test_bad_marker is not "
        "qahub(code, bug=, bug_url=, comment=); the tests it marks are treated as unmapped",
        "*QAHub: pytest_qahub_result raised RuntimeError: cannot adjust test_adjust "
        "for test_hooks.py::test_adjust; where it does, the result is sent as the plugin made it",
    ]
    result.stdout.fnmatch_lines_random(notices)
    result.stdout.fnmatch_lines(["*QAHub: pytest_qahub_result left a value that is not JSON*test_spoil*"])
    for notice in notices:  # once each, however many tests it concerns
        assert result.stdout.str().count(notice.strip("*")[:60]) == 1
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    # Unmapped (the embedded collector creates cases by node id), and sent as the plugin made them.
    assert {code: entry.payload["status"] for code, entry in journaled(suite.path).items()} == {
        "test_hooks.py::test_boom_first": "PASSED",
        "test_hooks.py::test_boom_second": "PASSED",
        "HOOK-1": "PASSED",
        "HOOK-2": "PASSED",
        "test_hooks.py::test_bad_marker": "PASSED",
    }


def test_under_xdist_a_hook_that_raises_is_named_once_in_the_summary(suite: pytest.Pytester) -> None:
    suite.makeconftest(RAISING_HOOKS)
    suite.makepyfile(test_hooks=RAISING_SUITE)
    result = run(suite, "-n", "2", "-W", "error")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=5)
    assert result.stdout.str().count("QAHub: pytest_qahub_test_case raised LookupError") == 1
    assert result.stdout.str().count("is not qahub(code, bug=, bug_url=, comment=)") == 1


def test_a_failure_message_with_undecodable_bytes_is_journaled(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_names="""
        import os

        def test_name():
            assert os.fsdecode(b"caf\\xff") == "cafe"
        """
    )
    result = run(suite, "--tb=no", "-rN")  # pytest would print the undecodable byte itself
    result.assert_outcomes(failed=1)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    row = journaled(suite.path)["test_names.py::test_name"].payload
    assert row["error_message"] == "AssertionError: assert 'caf\\udcff' == 'cafe'"


@pytest.mark.parametrize("option", ["--collect-only", "--setup-plan", "--fixtures"])
def test_a_session_that_runs_no_test_creates_nothing(suite: pytest.Pytester, option: str) -> None:
    suite.makepyfile(test_one="def test_one():\n    pass\n")
    result = run(suite, option)
    assert result.ret == pytest.ExitCode.OK
    assert not (suite.path / ".qahub").exists()
