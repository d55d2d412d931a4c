"""Attachments without a collector: names and types from the content, and uploads that fail or are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_qahub.attach import guess_name, is_png, mime_for, safe_name
from pytest_qahub.delivery.batches import Batches
from pytest_qahub.delivery.transport import Attachment, PostOutcome
from pytest_qahub.errors import ClientError, PayloadTooLarge, ServerError
from pytest_qahub.journal import Journal, load
from tests.support.images import make_png
from tests.support.journals import journal_entry


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


def test_a_missing_file_is_settled_but_a_local_failure_while_sending_may_pass(tmp_path: Path) -> None:
    journal, (entry, *files) = journal_with_two_files(tmp_path)
    (tmp_path / "a.png").unlink()
    delivery = Batches(FlakyUploads(OSError(28, "No space left on device")), journal, "run", None)
    delivery.send([entry])
    waiting, error = delivery.upload(files)
    assert [(code, name) for code, name, _ in delivery.stats.attachments_refused] == [("C-1", "a.png")]
    assert isinstance(error, ServerError) and "No space left" in str(error)
    assert waiting == files[1:]  # the file that was there waits in the journal for another try
    journal.sync()
    assert [f.name for f in load(journal.path).attachments] == ["b.txt"]


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
