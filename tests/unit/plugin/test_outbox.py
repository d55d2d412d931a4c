"""Unit tests: the outbox batches, cools down, records 201/207 outcomes, and never raises."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from pytest_qahub.delivery.batches import Batches, send_all
from pytest_qahub.delivery.outbox import Outbox
from pytest_qahub.delivery.transport import Attachment, PostOutcome
from pytest_qahub.errors import ConnectionFailed, NotFound, PayloadTooLarge
from pytest_qahub.journal import Journal, load
from tests.support.journals import journal_entry


class FakeTransport:
    """Records posted batches; answers with scripted errors, rejections or a delay."""

    url = "http://fake"

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.errors: list[Exception] = []
        self.reject: set[str] = set()
        self.max_items: int | None = None
        self.block = threading.Event()
        self.block.set()
        self.created: list[str] = []
        self.uploads: list[tuple[str, str, bytes]] = []

    def post_results(self, run_id: str, results: list[dict[str, Any]]) -> PostOutcome:
        self.block.wait()
        if self.errors:
            raise self.errors.pop(0)
        if self.max_items is not None and len(results) > self.max_items:
            raise PayloadTooLarge(413, "payload_too_large", "too many")
        self.batches.append(results)
        errors = [
            {"index": i, "test_case_code": r["test_case_code"], "message": "no such case"}
            for i, r in enumerate(results)
            if r["test_case_code"] in self.reject
        ]
        accepted = [
            {**r, "id": f"id-{r['test_case_code']}"}
            for r in results
            if r["test_case_code"] not in self.reject
        ]
        return PostOutcome(207 if errors else 201, accepted, errors)

    def create_case(self, code: str, title: str) -> dict[str, Any]:
        self.created.append(code)
        return {"code": code, "title": title}

    def get_run(self, run_id: str) -> dict[str, Any]:
        return {"id": run_id}

    def case_codes(self) -> set[str]:
        return set()

    def upload_attachment(self, result_id: str, files: list[Attachment]) -> list[dict[str, Any]]:
        self.uploads.extend((result_id, f.name, f.path.read_bytes()) for f in files)
        return []

    def close(self) -> None:
        pass


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal.create(tmp_path, url="http://fake", run_id="r")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def outbox(transport: FakeTransport, journal: Journal, clock: Clock, **kwargs: Any) -> Outbox:
    return Outbox(Batches(transport, journal, "r", None), clock=clock, **kwargs)


def add(box: Outbox, journal: Journal, count: int, prefix: str = "TC") -> None:
    payloads = [{"test_case_code": f"{prefix}-{n}", "status": "PASSED"} for n in range(count)]
    box.add([journal_entry(journal, payload) for payload in payloads], [])


def test_it_posts_a_full_batch_without_waiting_for_the_interval(
    transport: FakeTransport, journal: Journal, clock: Clock
) -> None:
    box = outbox(transport, journal, clock, batch_size=3, interval=60)
    add(box, journal, 3)
    box.send_due()
    assert box.stats.sent == 3
    add(box, journal, 4, prefix="MORE")
    box.send_due()  # a full batch is due: it goes, and what follows it
    assert [len(batch) for batch in transport.batches] == [3, 3, 1]
    assert box.flush()
    assert (box.stats.sent, box.undelivered) == (7, 0)
    assert load(journal.path).pending == []


def test_it_posts_a_partial_batch_after_the_interval(
    transport: FakeTransport, journal: Journal, clock: Clock
) -> None:
    box = outbox(transport, journal, clock, batch_size=100, interval=1.0)
    add(box, journal, 2)
    box.send_due()
    assert transport.batches == []
    clock.now += 1.0
    box.send_due()
    assert [len(batch) for batch in transport.batches] == [2]


def test_it_records_207_rejections_with_their_messages(
    transport: FakeTransport, journal: Journal, clock: Clock
) -> None:
    transport.reject = {"TC-1"}
    box = outbox(transport, journal, clock, batch_size=10)
    add(box, journal, 3)
    assert box.flush()
    assert box.stats.rejected == [("TC-1", "no such case")]
    assert (box.stats.sent, box.undelivered) == (2, 0)
    state = load(journal.path)
    assert state.pending == [] and list(state.rejected.values()) == ["no such case"]


def test_after_a_connection_failure_it_cools_down_then_tries_again(
    transport: FakeTransport, journal: Journal, clock: Clock
) -> None:
    transport.errors = [ConnectionFailed("refused")]
    box = outbox(transport, journal, clock, batch_size=2, cooldown=5.0)
    add(box, journal, 4)
    box.send_due()
    assert (box.stats.sent, box.stats.last_error) == (0, "refused")
    clock.now += 4.9
    box.send_due()  # still cooling down: nothing is tried
    assert box.stats.sent == 0
    clock.now += 0.1
    box.send_due()
    assert box.stats.sent == 4
    assert load(journal.path).pending == []


def test_the_final_flush_does_not_wait_for_the_cooldown(
    transport: FakeTransport, journal: Journal, clock: Clock
) -> None:
    transport.errors = [ConnectionFailed("refused")]
    box = outbox(transport, journal, clock, batch_size=2, cooldown=60.0)
    add(box, journal, 2)
    box.send_due()
    assert box.flush()
    assert box.stats.sent == 2


def test_a_failed_final_flush_leaves_the_rest_in_the_journal(
    transport: FakeTransport, journal: Journal, clock: Clock
) -> None:
    transport.errors = [ConnectionFailed("refused")]
    box = outbox(transport, journal, clock, batch_size=10)
    add(box, journal, 3)
    assert not box.flush()
    assert box.undelivered == 3
    assert len(load(journal.path).pending) == 3


def test_a_permanent_refusal_leaves_results_in_the_journal(
    transport: FakeTransport, journal: Journal, clock: Clock
) -> None:
    transport.errors = [NotFound(404, "not_found", "Run 'r' was not found.")]
    box = outbox(transport, journal, clock, batch_size=10)
    add(box, journal, 3)
    assert box.flush()  # nothing more to try this session
    assert box.undelivered == 3
    assert "was not found" in (box.stats.last_error or "")
    assert len(load(journal.path).pending) == 3


def test_told_to_stop_it_sends_nothing_more(transport: FakeTransport, journal: Journal, clock: Clock) -> None:
    box = outbox(transport, journal, clock, batch_size=1)
    add(box, journal, 3)
    box.stopping = True  # the session's flush time ran out
    assert not box.flush()
    assert (transport.batches, box.undelivered) == ([], 3)


def test_an_attachment_waits_for_its_results_id(
    transport: FakeTransport, journal: Journal, clock: Clock, tmp_path: Path
) -> None:
    box = outbox(transport, journal, clock, batch_size=10)
    file = tmp_path / "log.txt"
    file.write_text("log")
    attachment = journal.append_attachment("TC-0", str(file), "log.txt", "text/plain")
    box.add([], [attachment])
    assert not box.flush()  # its result is not sent yet: it waits in the journal
    assert (box.attachments_waiting, transport.uploads) == (1, [])
    box = outbox(transport, journal, clock, batch_size=10)
    add(box, journal, 1)
    box.add([], [attachment])
    assert box.flush()
    assert (box.stats.attachments_sent, box.attachments_waiting) == (1, 0)
    assert transport.uploads == [("id-TC-0", "log.txt", b"log")]


def test_a_413_halves_the_batch(transport: FakeTransport, journal: Journal) -> None:
    transport.max_items = 2
    entries = [journal_entry(journal, {"test_case_code": f"TC-{n}"}) for n in range(5)]
    remaining, error = send_all(Batches(transport, journal, "r", None), entries, 8)
    assert (remaining, error) == ([], None)
    assert [len(batch) for batch in transport.batches] == [2, 2, 1]


def test_it_creates_requested_cases_once_before_posting(transport: FakeTransport, journal: Journal) -> None:
    entries = [
        journal_entry(journal, {"test_case_code": "a.py::t"}, create_title="a.py::t"),
        journal_entry(journal, {"test_case_code": "a.py::t"}, create_title="a.py::t"),
        journal_entry(journal, {"test_case_code": "known"}, create_title="known"),
    ]
    delivery = Batches(transport, journal, "r", {"known"})
    send_all(delivery, entries, 10)
    assert transport.created == ["a.py::t"]
    assert delivery.stats.created_cases == 1
