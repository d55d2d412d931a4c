"""End to end: the checks before tests run (URL, token and its scopes, run, codes) and unmapped tests."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.plugin.conftest import QAHubRun, make_cases
from tests.support.server import qahub

MAPPED = """
import pytest

@pytest.mark.qahub("PRE-1")
def test_known():
    pass

@pytest.mark.qahub("PRE-MISSING-1")
def test_unknown_code():
    pass

def test_unmapped():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_unmapped_param(n):
    pass
"""


def test_an_unknown_run_is_a_usage_error_and_no_test_runs(qahub_run: QAHubRun) -> None:
    qahub_run.pytester.makepyfile("def test_a(): pass")
    result = qahub_run.pytester.runpytest_subprocess("--qahub-run=no-such-run")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: QAHub run 'no-such-run' does not exist at {qahub_run.server.url}"])
    result.stdout.no_fnmatch_line("*passed*")
    assert qahub_run.journals() == []


@pytest.mark.parametrize("suffix", ["?x", "#x", "/"])
def test_a_run_id_is_never_read_as_part_of_a_url(qahub_run: QAHubRun, suffix: str) -> None:
    qahub_run.pytester.makepyfile("def test_a(): pass")
    result = qahub_run.pytest(f"--qahub-run={qahub_run.run_id}{suffix}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: QAHub run '{qahub_run.run_id}{suffix}' does not exist at *"])


def test_a_rejected_token_is_a_usage_error(qahub_run: QAHubRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QAHUB_TOKEN", "qh_nothing_wrong")
    qahub_run.pytester.makepyfile("def test_a(): pass")
    result = qahub_run.pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: QAHub at *: the token was rejected (HTTP 401*"])
    result.stdout.no_fnmatch_line("*passed*")


def test_a_missing_token_is_a_usage_error_that_says_so(
    qahub_run: QAHubRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QAHUB_TOKEN")
    qahub_run.pytester.makepyfile("def test_a(): pass")
    result = qahub_run.pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: QAHub at *: no token was given*"])


def test_a_missing_ca_bundle_is_a_usage_error_naming_it(
    qahub_run: QAHubRun, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "no-such-bundle.pem"))
    qahub_run.pytester.makepyfile("def test_a(): pass")
    result = qahub_run.pytest("--qahub-url=https://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: QAHub at https://127.0.0.1:9: the CA bundle *no-such-bundle.pem "
            "(REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE) does not exist"
        ]
    )
    result.stdout.no_fnmatch_line("*passed*")
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_unknown_codes_are_named_in_one_warning_and_not_sent(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "PRE-1")
    qahub_run.pytester.makepyfile(MAPPED)
    result = qahub_run.pytest("-W", "default")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "*QAHubWarning: QAHub: 1 test case code(s) do not exist in the project; "
            "their results will not be sent: PRE-MISSING-1",
            "*unknown test case codes (not sent): PRE-MISSING-1",
        ]
    )
    assert qahub_run.statuses() == {"PRE-1": "PASSED"}
    assert result.ret == pytest.ExitCode.OK


def test_with_warnings_as_errors_the_summary_names_unknown_codes_once(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "PRE-1")
    qahub_run.pytester.makepyfile(MAPPED)
    result = qahub_run.pytest("-W", "error")
    result.assert_outcomes(passed=5)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["  unknown test case codes (not sent): PRE-MISSING-1"])
    assert result.stdout.str().count("PRE-MISSING-1") == 1


def test_unmapped_tests_are_skipped_and_counted(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "PRE-1")
    qahub_run.pytester.makepyfile(MAPPED)
    result = qahub_run.pytest()
    result.stdout.fnmatch_lines(["sent 1, rejected 0, waiting in journal 0, unmapped tests 3 (not reported)"])
    assert set(qahub_run.statuses()) == {"PRE-1"}


CREATING = """
import pytest

@pytest.mark.qahub("CRE-KNOWN")
def test_known():
    pass

@pytest.mark.qahub("CRE-MARKED")
def test_marked_code_missing():
    \"\"\"

    Checkout accepts a voucher.

    More about it.
    \"\"\"

def test_hooked():
    pass

def test_unmapped():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_unmapped_param(n):
    pass
"""

HOOK = """
def pytest_qahub_test_case(item):
    return "CRE-HOOKED" if item.name == "test_hooked" else None
"""


def test_unmapped_create_creates_missing_cases_for_every_test(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "CRE-KNOWN")
    qahub_run.pytester.makepyfile(test_create=CREATING)
    qahub_run.pytester.makeconftest(HOOK)
    result = qahub_run.pytest("--qahub-unmapped=create", "-W", "default")
    result.assert_outcomes(passed=6)
    result.stdout.no_fnmatch_line("*do not exist*")
    result.stdout.fnmatch_lines(["sent 5, rejected 0, waiting in journal 0, test cases created 4"])
    assert qahub_run.statuses() == {
        "CRE-KNOWN": "PASSED",
        "CRE-MARKED": "PASSED",
        "CRE-HOOKED": "PASSED",
        "test_create.py::test_unmapped": "PASSED",
        "test_create.py::test_unmapped_param": "PASSED",
    }
    titles = {
        code: qahub_run.server.session.get(f"{qahub_run.server.api}/cases/{code}", timeout=10).json()["data"][
            "title"
        ]
        for code in ("CRE-KNOWN", "CRE-MARKED", "CRE-HOOKED", "test_create.py::test_unmapped_param")
    }
    assert titles == {
        "CRE-KNOWN": "title of CRE-KNOWN",  # an existing case is left alone
        "CRE-MARKED": "Checkout accepts a voucher.",
        "CRE-HOOKED": "test_hooked",
        "test_create.py::test_unmapped_param": "test_unmapped_param",
    }
    # A second session finds the cases there and reports to them again.
    run_2 = qahub_run.server.create_run("again")
    again = qahub_run.pytester.runpytest_subprocess(f"--qahub-run={run_2}", "--qahub-unmapped=create")
    again.assert_outcomes(passed=6)
    again.stdout.fnmatch_lines(["sent 5, rejected 0, waiting in journal 0"])
    assert len(qahub_run.statuses(run_2)) == 5


@pytest.fixture
def web_site() -> Iterator[str]:
    """A web server that answers every GET with an HTML page: a URL that is no collector's."""

    class Page(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            body = b"<html><body>Welcome to the intranet</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_url_that_answers_html_is_not_a_collector(qahub_run: QAHubRun, web_site: str) -> None:
    qahub_run.pytester.makepyfile("def test_a(): pass")
    result = qahub_run.pytest(f"--qahub-url={web_site}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {web_site} is not a QAHub collector: GET {web_site}/api/v1/me*"])
    result.stdout.no_fnmatch_line("*passed*")
    assert "does not exist" not in result.stderr.str()


def test_a_url_where_nothing_answers_the_api_is_not_a_collector(qahub_run: QAHubRun) -> None:
    qahub_run.pytester.makepyfile("def test_a(): pass")
    url = f"{qahub_run.server.url}/qahub"
    result = qahub_run.pytest(f"--qahub-url={url}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: {url} is not a QAHub collector: "
            f"GET {url}/api/v1/me answered HTTP 404 (not_found); check the URL"
        ]
    )


def test_a_token_that_cannot_write_is_a_usage_error(
    qahub_run: QAHubRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_only = qahub(qahub_run.server.env, "token", "create", "--scopes", "read").strip()
    monkeypatch.setenv("QAHUB_TOKEN", read_only)
    qahub_run.pytester.makepyfile("def test_a(): pass")
    result = qahub_run.pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: QAHub at {qahub_run.server.url}: the token's scopes are read; it needs read,write "
            "(create one on the collector's host with: qahub token create --scopes read,write)"
        ]
    )
    result.stdout.no_fnmatch_line("*passed*")
    assert qahub_run.journals() == []


def test_a_completed_run_is_a_usage_error(qahub_run: QAHubRun) -> None:
    qahub_run.server.session.patch(
        f"{qahub_run.server.api}/runs/{qahub_run.run_id}", json={"status": "COMPLETED"}, timeout=10
    ).raise_for_status()
    qahub_run.pytester.makepyfile("def test_a(): pass")
    result = qahub_run.pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: QAHub run '{qahub_run.run_id}' at {qahub_run.server.url} is COMPLETED and takes no "
            "more results; report to a new run (qahub run create, or --qahub-run-name)"
        ]
    )
    result.stdout.no_fnmatch_line("*passed*")


def test_a_completed_embedded_run_is_a_usage_error_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("QAHUB_URL", "QAHUB_TOKEN", "QAHUB_RUN", "QAHUB_DATABASE_URL", "QAHUB_STORAGE_DIR"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile("def test_a(): pass")
    assert pytester.runpytest_subprocess("--qahub-run=local-1").ret == pytest.ExitCode.OK
    env = {k: v for k, v in os.environ.items() if not k.startswith("QAHUB_")}
    qahub(env, "run", "complete", "local-1", cwd=pytester.path)
    result = pytester.runpytest_subprocess("--qahub-run=local-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: QAHub run 'local-1' at sqlite:///*qahub.db is COMPLETED*"])


def test_a_token_on_the_command_line_is_named_in_the_summary(
    qahub_run: QAHubRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QAHUB_TOKEN")
    qahub_run.pytester.makepyfile("def test_a(): pass")
    result = qahub_run.pytest(f"--qahub-token={qahub_run.server.token}")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["  the token was given with --qahub-token, which every user of this machine can read*"]
    )
