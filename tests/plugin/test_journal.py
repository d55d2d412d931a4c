"""Unit tests: the journal keeps what is not delivered, across reloads and truncation."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_qahub.journal import Entry, Follower, Journal, load


def payload(code: str) -> dict[str, str]:
    return {"test_case_code": code, "status": "PASSED"}


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal.create(tmp_path / "journal", url="http://h:1", run_id="run-1")


def test_it_writes_a_header_with_the_url_and_run(journal: Journal) -> None:
    journal.close()
    state = load(journal.path)
    assert (state.url, state.run_id) == ("http://h:1", "run-1")
    assert state.pending == []


def test_a_reload_yields_every_result_not_yet_delivered(journal: Journal) -> None:
    entries = [journal.append_result(payload(f"TC-{n}")) for n in range(4)]
    journal.mark_delivered([entries[0].seq, entries[2].seq])
    journal.mark_rejected({entries[3].seq: "no such case"})
    journal.close()
    state = load(journal.path)
    assert [entry.payload["test_case_code"] for entry in state.pending] == ["TC-1"]
    assert state.delivered == 2
    assert state.rejected == {entries[3].seq: "no such case"}


def test_it_keeps_the_title_of_cases_to_create(journal: Journal) -> None:
    journal.append_result(payload("a.py::test_b"), create_title="a.py::test_b")
    journal.close()
    assert load(journal.path).pending[0].create_title == "a.py::test_b"


def test_a_truncated_last_line_is_ignored_and_appending_continues_cleanly(
    journal: Journal,
) -> None:
    journal.append_result(payload("TC-1"))
    journal.close()
    with journal.path.open("ab") as handle:
        handle.write(b'{"type": "result", "seq": 2, "resu')  # the process died mid-write
    state = load(journal.path)
    assert [entry.seq for entry in state.pending] == [1]
    assert state.corrupt_lines == 0
    reopened = Journal.reopen(state)
    reopened.mark_delivered([1])
    again = reopened.append_result(payload("TC-3"))
    reopened.close()
    state = load(journal.path)
    assert [entry.seq for entry in state.pending] == [again.seq]
    assert again.seq == 2


def test_a_corrupt_line_in_the_middle_is_counted_not_fatal(journal: Journal) -> None:
    journal.append_result(payload("TC-1"))
    journal.close()
    with journal.path.open("ab") as handle:
        handle.write(b"garbage\n")
    with journal.path.open("ab") as handle:
        handle.write(b'{"type": "result", "seq": 2, "result": {"test_case_code": "TC-2"}}\n')
    state = load(journal.path)
    assert state.corrupt_lines == 1
    assert [entry.seq for entry in state.pending] == [1, 2]


def test_a_file_without_a_header_is_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"type": "result", "seq": 1, "result": {}}\n')
    with pytest.raises(ValueError, match="not a QAHub journal"):
        load(path)


def test_writing_after_close_is_an_os_error(journal: Journal) -> None:
    journal.close()
    with pytest.raises(OSError, match="closed"):
        journal.append_result(payload("TC-1"))


def test_a_follower_reads_each_record_once_as_it_is_appended(journal: Journal) -> None:
    follower = Follower(journal.path)
    assert follower.read() == ([], [])  # the header is neither
    first = journal.append_result({"test_case_code": "TC-1"})
    attachment = journal.append_attachment("TC-1", "/tmp/shot.png", "shot.png", "image/png")
    assert follower.read() == ([first], [attachment])
    second = journal.append_result({"test_case_code": "TC-2"}, "create me")
    assert follower.read() == ([second], [])
    assert follower.read() == ([], [])
    follower.close()


def test_a_follower_waits_for_the_end_of_a_line_being_written(journal: Journal) -> None:
    follower = Follower(journal.path)
    follower.read()
    line = b'{"type":"result","seq":7,"result":{"test_case_code":"TC-7"}}\n'
    with journal.path.open("ab") as raw:
        raw.write(line[:20])
        raw.flush()
        assert follower.read() == ([], [])
        raw.write(line[20:])
    assert follower.read() == ([Entry(7, {"test_case_code": "TC-7"})], [])
    follower.close()


def test_marks_from_another_handle_interleave_whole_lines(journal: Journal) -> None:
    marks = Journal.for_marks(journal.path)  # as the delivery process opens it
    entries = []
    for n in range(50):
        entries.append(journal.append_result({"test_case_code": f"TC-{n}"}))
        if n % 10 == 9:
            marks.mark_delivered([entry.seq for entry in entries[-10:]])
    marks.close()
    state = load(journal.path)
    assert state.corrupt_lines == 0
    assert state.delivered == 50
    assert state.pending == []


def test_a_journal_without_a_run_names_the_run_to_create_and_keeps_its_id_once_made(tmp_path: Path) -> None:
    journal = Journal.create(
        tmp_path, url="http://h:1", run_id=None, run_name="nightly", tags={"branch": "main"}, complete=True
    )
    journal.close()
    state = load(journal.path)
    assert (state.run_id, state.run_name, state.run_tags, state.complete) == (
        None,
        "nightly",
        {"branch": "main"},
        True,
    )
    again = Journal.reopen(state)
    again.mark_run("c0new")
    again.mark_completed()
    again.close()
    state = load(journal.path)
    assert (state.run_id, state.completed) == ("c0new", True)


def test_a_journal_with_a_run_asks_for_nothing_more(journal: Journal) -> None:
    journal.close()
    state = load(journal.path)
    assert (state.run_name, state.run_tags, state.complete, state.completed) == (None, {}, False, False)
