"""The ``qahub_attach`` fixture, refused files, and attachments that wait for ``qahub replay``."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from pytest_qahub.attach import guess_name, is_png, mime_for, safe_name
from pytest_qahub.delivery.batches import Batches
from pytest_qahub.delivery.replay import replay
from pytest_qahub.delivery.transport import Attachment, PostOutcome
from pytest_qahub.errors import ClientError, PayloadTooLarge, ServerError
from pytest_qahub.journal import Journal, load
from tests.plugin.conftest import QAHubRun, make_cases
from tests.plugin.test_screenshots import attachments_of, files_of, make_png, pending_files
from tests.support.journals import journal_entry
from tests.support.server import CollectorServer


def test_names_and_types_are_guessed_from_the_content() -> None:
    assert guess_name(make_png()) == "attachment.png"
    assert guess_name(b"%PDF-1.7\n...") == "attachment.pdf"
    assert guess_name(b"plain words\n") == "attachment.txt"
    assert guess_name(b"\xff\xfe\x00binary") == "attachment.bin"
    assert mime_for("trace.ZIP") == "application/zip"
    assert mime_for("run.log") == "text/plain"
    assert mime_for("tool.exe") == "application/octet-stream"
    assert safe_name("../../etc/pass wd.txt") == "pass_wd.txt"
    assert is_png(make_png()) and not is_png(b"\x89PNG\r\n\x1a\n")


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


class FlakyUploads:
    """A transport whose uploads fail with the given errors first."""

    url = "http://fake"

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.uploaded: list[tuple[str, str]] = []

    def post_results(self, run_id: str, results: list[dict[str, Any]]) -> PostOutcome:
        return PostOutcome(
            201, [{"id": f"r-{r['test_case_code']}", "test_case_code": r["test_case_code"]} for r in results]
        )

    def upload_attachment(self, result_id: str, files: list[Attachment]) -> list[dict[str, Any]]:
        if self.errors:
            raise self.errors.pop(0)
        self.uploaded.extend((result_id, f.name) for f in files)
        return [{"id": "a"}]


def journal_with_two_files(tmp_path: Path) -> tuple[Journal, list[Any]]:
    journal = Journal.create(tmp_path / "journal", url="http://fake", run_id="run")
    entry = journal_entry(journal, {"test_case_code": "C-1", "status": "FAILED"})
    files = []
    for name in ("a.png", "b.txt"):
        path = tmp_path / name
        path.write_bytes(make_png() if name.endswith(".png") else b"text")
        files.append(journal.append_attachment("C-1", str(path), name, mime_for(name)))
    return journal, [entry, *files]


def test_a_transient_upload_failure_keeps_the_file_and_the_ids_for_replay(tmp_path: Path) -> None:
    journal, (entry, *files) = journal_with_two_files(tmp_path)
    delivery = Batches(FlakyUploads(ServerError(503, None, "busy")), journal, "run", None)
    delivery.send([entry])
    waiting, error = delivery.upload(files)
    assert isinstance(error, ServerError) and waiting == files
    journal.sync()
    state = load(journal.path)
    assert state.pending == [] and state.result_ids == {"C-1": "r-C-1"}
    assert [f.name for f in state.attachments] == ["a.png", "b.txt"]
    # A later attempt (replay) needs no new upsert: the id is in the journal.
    later = Batches(FlakyUploads(), Journal.reopen(state), "run", None)
    later.result_ids.update(state.result_ids)
    assert later.upload(state.attachments) == ([], None)
    assert later.transport.uploaded == [("r-C-1", "a.png"), ("r-C-1", "b.txt")]
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize(
    "error",
    [PayloadTooLarge(413, "payload_too_large", "too big"), ClientError(415, "unsupported_media_type", "no")],
)
def test_too_large_or_refused_files_are_settled_not_retried(tmp_path: Path, error: Exception) -> None:
    journal, (entry, *files) = journal_with_two_files(tmp_path)
    delivery = Batches(FlakyUploads(error), journal, "run", None)
    delivery.send([entry])
    assert delivery.upload(files) == ([], None)
    assert delivery.stats.attachments_sent == 1
    assert [(code, name) for code, name, _ in delivery.stats.attachments_refused] == [("C-1", "a.png")]
    journal.sync()
    assert load(journal.path).attachments == []


def test_attachments_of_a_rejected_result_are_settled(tmp_path: Path) -> None:
    journal, (entry, *files) = journal_with_two_files(tmp_path)

    class Rejecting(FlakyUploads):
        def post_results(self, run_id: str, results: list[dict[str, Any]]) -> PostOutcome:
            return PostOutcome(207, [], [{"index": 0, "message": "No test case with code 'C-1'"}])

    delivery = Batches(Rejecting(), journal, "run", None)
    delivery.send([entry])
    assert delivery.upload(files) == ([], None)
    assert [reason for _, _, reason in delivery.stats.attachments_refused] == ["its result was rejected"] * 2
