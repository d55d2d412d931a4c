"""The ``qahub_attach`` fixture, refused files, and attachments that wait for ``qahub replay``."""

from __future__ import annotations

import io

import pytest

from pytest_qahub.delivery.replay import replay
from pytest_qahub.journal import load
from tests.plugin.conftest import QAHubRun, make_cases
from tests.plugin.test_screenshots import attachments_of, files_of, pending_files
from tests.support.images import make_png
from tests.support.server import CollectorServer

ATTACH_SUITE = f"""
import pytest

PNG = {make_png(rgb=(1, 2, 3))!r}

@pytest.mark.qahub("ATT-1")
def test_attaches_everything(qahub_attach, tmp_path):
    log = tmp_path / "server.log"
    log.write_text("GET / 200\\n")
    assert qahub_attach(log) == "server.log"
    assert qahub_attach(b"some text") == "attachment.txt"
    assert qahub_attach(PNG, name="page.png") == "page.png"
    assert qahub_attach(str(log), name="notes.txt", mime="text/plain") == "notes.txt"
    log.unlink()  # the plugin kept its own copy

@pytest.mark.qahub("ATT-2")
def test_a_refused_type_and_a_missing_file(qahub_attach, tmp_path):
    assert qahub_attach(b"MZ\\x90\\x00binary", name="tool.exe") == "tool.exe"
    assert qahub_attach(tmp_path / "nope.txt") is None
    with pytest.raises(TypeError):
        qahub_attach(42)
"""


def test_the_fixture_attaches_bytes_and_files_with_names_and_types(qahub_run: QAHubRun) -> None:
    make_cases(qahub_run.server, "ATT-1", "ATT-2")
    qahub_run.pytester.makepyfile(test_attach=ATTACH_SUITE)
    result = qahub_run.pytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "attachments uploaded 4, refused 1, waiting in journal 0",
            "  attachment tool.exe of ATT-2 refused: HTTP 415: *",
            "  test_attach.py::test_a_refused_type_and_a_missing_file: could not attach nope.txt: *",
        ]
    )
    assert files_of(qahub_run, "ATT-1") == {
        "server.log": b"GET / 200\n",
        "attachment.txt": b"some text",
        "page.png": make_png(rgb=(1, 2, 3)),
        "notes.txt": b"GET / 200\n",
    }
    assert files_of(qahub_run, "ATT-2") == {}
    assert pending_files(qahub_run) == []
    # Refused for good: nothing is left for a replay.
    (journal,) = qahub_run.journals()
    state = load(journal)
    assert state.attachments == [] and len(state.attachments_refused) == 1


def test_the_fixture_works_without_a_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(qahub_attach):\n    assert qahub_attach(b'x', name='a.txt') is None\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not (pytester.path / ".qahub").exists()


def test_attachments_wait_with_their_results_and_replay_uploads_them_once(
    qahub_run: QAHubRun, fresh_server: CollectorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cases(fresh_server, "ATT-1", "ATT-2")
    run = fresh_server.create_run("down")
    monkeypatch.setenv("QAHUB_URL", fresh_server.url)
    monkeypatch.setenv("QAHUB_TOKEN", fresh_server.token)
    qahub_run.pytester.makepyfile(test_attach=ATTACH_SUITE)
    fresh_server.stop()
    result = qahub_run.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--qahub-run={run}", "-W", "default"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["attachments uploaded 0, refused 0, waiting in journal 5", "  2 results and 5 attachments wait in *"]
    )
    assert len(pending_files(qahub_run)) == 5

    fresh_server.start()  # the same URL as the journal's
    journals = qahub_run.pytester.path / ".qahub" / "journal"
    out = io.StringIO()
    code = replay([journals], None, fresh_server.token, out)
    assert (
        "sent 2, rejected 0, not delivered 0; attachments uploaded 4, refused 1, not uploaded 0"
        in out.getvalue()
    )
    assert code == 0, out.getvalue()
    row = {r["test_case_code"]: r for r in fresh_server.results(run)}["ATT-1"]
    names = {meta["fileName"] for meta, _ in attachments_of(fresh_server, row["id"])}
    assert names == {"server.log", "attachment.txt", "page.png", "notes.txt"}
    assert pending_files(qahub_run) == []

    again = io.StringIO()
    assert replay([journals], None, fresh_server.token, again) == 0
    assert "nothing to send" in again.getvalue()
    assert len(attachments_of(fresh_server, row["id"])) == 4
