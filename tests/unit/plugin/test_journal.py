"""Unit tests: the journal keeps what is not delivered, across reloads and truncation."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from pytest_qahub.attach import PendingStore
from pytest_qahub.journal import QUIET_S, Entry, Follower, Journal, KeepJournals, load, prune_delivered
from tests.support.journals import journal_entry


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
    entries = [journal_entry(journal, payload(f"TC-{n}")) for n in range(4)]
    journal.mark_delivered([entries[0].seq, entries[2].seq])
    journal.mark_rejected({entries[3].seq: "no such case"})
    journal.close()
    state = load(journal.path)
    assert [entry.payload["test_case_code"] for entry in state.pending] == ["TC-1"]
    assert state.delivered == 2
    assert state.rejected == {entries[3].seq: "no such case"}


def test_it_keeps_the_title_of_cases_to_create(journal: Journal) -> None:
    journal_entry(journal, payload("a.py::test_b"), create_title="a.py::test_b")
    journal.close()
    assert load(journal.path).pending[0].create_title == "a.py::test_b"


def test_a_truncated_last_line_is_ignored_and_appending_continues_cleanly(
    journal: Journal,
) -> None:
    journal_entry(journal, payload("TC-1"))
    journal.close()
    with journal.path.open("ab") as handle:
        handle.write(b'{"type": "result", "seq": 2, "resu')  # the process died mid-write
    state = load(journal.path)
    assert [entry.seq for entry in state.pending] == [1]
    assert state.corrupt_lines == 0
    reopened = Journal.reopen(state)
    reopened.mark_delivered([1])
    again = journal_entry(reopened, payload("TC-3"))
    reopened.close()
    state = load(journal.path)
    assert [entry.seq for entry in state.pending] == [again.seq]
    assert again.seq == 2


def test_a_corrupt_line_in_the_middle_is_counted_not_fatal(journal: Journal) -> None:
    journal_entry(journal, payload("TC-1"))
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
        journal_entry(journal, payload("TC-1"))


def test_a_follower_reads_each_record_once_as_it_is_appended(journal: Journal) -> None:
    follower = Follower(journal.path)
    assert follower.read() == ([], [])  # the header is neither
    first = journal_entry(journal, {"test_case_code": "TC-1"})
    attachment = journal.append_attachment("TC-1", "/tmp/shot.png", "shot.png", "image/png")
    assert follower.read() == ([first], [attachment])
    second = journal_entry(journal, {"test_case_code": "TC-2"}, "create me")
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
        entries.append(journal_entry(journal, {"test_case_code": f"TC-{n}"}))
        if n % 10 == 9:
            marks.mark_delivered([entry.seq for entry in entries[-10:]])
    marks.close()
    state = load(journal.path)
    assert state.corrupt_lines == 0
    assert state.delivered == 50
    assert state.pending == []


def finished_journal(
    directory: Path, started: str, delivered: bool = True, age_s: float = 2 * QUIET_S
) -> Path:
    """A journal of a session that started at ``started`` (YYYYmmddTHHMMSS) in a process now gone."""
    path = directory / f"{started}-{dead_pid()}-abc123.jsonl"
    header = '{"type":"header","version":1,"url":"http://h:1","run":"r"}\n'
    result = '{"type":"result","seq":1,"result":{"test_case_code":"TC-1","status":"PASSED"}}\n'
    mark = '{"type":"delivered","seqs":[1]}\n' if delivered else ""
    path.write_text(header + result + mark)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def dead_pid() -> int:
    """A pid no process has: the kernel hands out pids below ``pid_max``."""
    return int(Path("/proc/sys/kernel/pid_max").read_text())


def test_delivered_journals_beyond_the_newest_sessions_are_removed(tmp_path: Path) -> None:
    days = [finished_journal(tmp_path, f"202605{day:02d}T120000") for day in range(1, 6)]
    removed = prune_delivered(tmp_path, KeepJournals(sessions=2))
    assert sorted(removed) == days[:3]
    assert sorted(tmp_path.iterdir()) == days[3:]
    assert prune_delivered(tmp_path, KeepJournals(sessions=0)) == sorted(days[3:], reverse=True)


def test_a_journal_with_anything_undelivered_is_never_removed(tmp_path: Path, journal: Journal) -> None:
    waiting = finished_journal(tmp_path, "20260501T120000", delivered=False)
    journal.append_attachment("TC-1", "/tmp/shot.png", "shot.png", "image/png")
    journal.close()
    old = time.time() - 2 * QUIET_S
    os.utime(journal.path, (old, old))
    assert prune_delivered(tmp_path, KeepJournals(sessions=0)) == []
    assert waiting.exists()
    assert prune_delivered(journal.path.parent, KeepJournals(sessions=0)) == []
    assert journal.path.exists()  # an attachment is still to upload


def test_journals_of_the_last_days_are_kept(tmp_path: Path) -> None:
    week_old = finished_journal(tmp_path, "20260501T120000", age_s=7 * 86400 + 60)
    day_old = finished_journal(tmp_path, "20260507T120000", age_s=86400)
    assert prune_delivered(tmp_path, KeepJournals(days=7)) == [week_old]
    assert day_old.exists()


def test_a_journal_a_session_may_still_write_is_kept(tmp_path: Path, journal: Journal) -> None:
    entry = journal_entry(journal, payload("TC-1"))
    journal.mark_delivered([entry.seq])  # delivered so far, but this process goes on
    old = time.time() - 2 * QUIET_S
    os.utime(journal.path, (old, old))
    recent = finished_journal(tmp_path, "20260501T120000", age_s=60)  # a session elsewhere, just now
    assert prune_delivered(journal.path.parent, KeepJournals(sessions=0)) == []
    assert prune_delivered(tmp_path, KeepJournals(sessions=0)) == []
    assert recent.exists() and journal.path.exists()


def test_files_that_are_not_journals_are_left_alone(tmp_path: Path) -> None:
    stranger = tmp_path / "20260501T120000-1-notes.jsonl"
    stranger.write_text("not a journal\n")
    os.utime(stranger, (0, 0))
    assert prune_delivered(tmp_path, KeepJournals(sessions=0)) == []
    assert prune_delivered(tmp_path / "missing", KeepJournals(sessions=0)) == []
    assert stranger.exists()


@pytest.mark.parametrize("text", ["", "x", "-1", "1.5", "d", "-2d", "7 days"])
def test_a_keep_setting_is_sessions_or_days(text: str) -> None:
    with pytest.raises(ValueError, match=r"give a number of sessions \(20\) or of days \(7d\)"):
        KeepJournals.parse(text)


def test_text_a_test_decoded_from_bytes_is_journaled_escaped(journal: Journal) -> None:
    message = "AssertionError: assert " + repr(os.fsdecode(b"caf\xff"))  # a lone surrogate
    journal.append_payload({**payload("a.py::test_\udcff"), "error_message": message})
    journal.close()
    (entry,) = load(journal.path).pending
    assert entry.payload["error_message"] == "AssertionError: assert 'caf\\udcff'"
    assert entry.payload["test_case_code"] == "a.py::test_\\udcff"


def test_a_record_of_a_foreign_shape_is_counted_and_skipped_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "20260501T120000-1-abc123.jsonl"
    header = '{"type":"header","version":1,"url":"http://h:1","run":"r"}\n'
    good = '{"type":"result","seq":1,"result":{"test_case_code":"TC-1","status":"PASSED"}}\n'
    path.write_text(header + '{"type":"result"}\n' + '{"type":"delivered","seqs":7}\n' + good)
    state = load(path)
    assert state.corrupt_lines == 2
    assert [entry.payload["test_case_code"] for entry in state.pending] == ["TC-1"]


def test_journals_and_pending_attachments_are_readable_by_their_user_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the usual umask: a plain mkdir or open would let everyone read
    try:
        journal = Journal.create(tmp_path / ".qahub" / "journal", url=None, run_id="r1")
        journal.close()
        record = PendingStore(tmp_path / ".qahub" / "attachments-pending").write("t.py::t", b"log", "log.txt")
        source = tmp_path / "trace.zip"
        source.write_bytes(b"PK")
        copied = PendingStore(tmp_path / ".qahub" / "attachments-pending").copy(
            "t.py::t", source, "trace.zip"
        )
    finally:
        os.umask(previous)

    for folder in (".qahub", ".qahub/journal", ".qahub/attachments-pending"):
        assert stat.S_IMODE((tmp_path / folder).stat().st_mode) == 0o700, folder
    for path in (journal.path, Path(record["path"]), Path(copied["path"])):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


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
