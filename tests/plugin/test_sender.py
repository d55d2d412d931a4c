"""Unit tests: the sender batches, records 201/207 outcomes, and never raises or hangs."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_qahub.delivery import Delivery, send_all
from pytest_qahub.errors import ConnectionFailed, NotFound, PayloadTooLarge
from pytest_qahub.journal import Journal, load
from pytest_qahub.sender import Sender
from pytest_qahub.transport import Attachment, PostOutcome
from tests.support.waiting import wait_until


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
        accepted = [r for r in results if r["test_case_code"] not in self.reject]
        return PostOutcome(207 if errors else 201, accepted, errors)

    def create_case(self, code: str, title: str) -> dict[str, Any]:
        self.created.append(code)
        return {"code": code, "title": title}

    def get_run(self, run_id: str) -> dict[str, Any]:
        return {"id": run_id}

    def me(self) -> dict[str, Any]:
        return {}

    def case_codes(self) -> set[str]:
        return set()

    def upload_attachment(self, result_id: str, files: list[Attachment]) -> list[dict[str, Any]]:
        return []

    def close(self) -> None:
        pass


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal.create(tmp_path, url="http://fake", run_id="r")


def submit(sender: Sender, journal: Journal, count: int, prefix: str = "TC") -> None:
    for n in range(count):
        sender.submit(journal.append_result({"test_case_code": f"{prefix}-{n}", "status": "PASSED"}))


def test_it_posts_a_full_batch_without_waiting_for_the_interval(
    transport: FakeTransport, journal: Journal
) -> None:
    sender = Sender(Delivery(transport, journal, "r", None), batch_size=3, interval=60)
    sender.start()
    submit(sender, journal, 3)
    wait_until(lambda: sender.stats.sent == 3)
    submit(sender, journal, 4, prefix="MORE")
    assert sender.flush(5)
    assert [len(batch) for batch in transport.batches] == [3, 3, 1]
    assert (sender.stats.sent, sender.undelivered) == (7, 0)
    assert load(journal.path).pending == []


def test_it_posts_a_partial_batch_after_the_interval(transport: FakeTransport, journal: Journal) -> None:
    sender = Sender(Delivery(transport, journal, "r", None), batch_size=100, interval=0.05)
    sender.start()
    submit(sender, journal, 2)
    wait_until(lambda: len(transport.batches) == 1)
    assert sender.flush(5)


def test_it_records_207_rejections_with_their_messages(transport: FakeTransport, journal: Journal) -> None:
    transport.reject = {"TC-1"}
    sender = Sender(Delivery(transport, journal, "r", None), batch_size=10)
    sender.start()
    submit(sender, journal, 3)
    assert sender.flush(5)
    assert sender.stats.rejected == [("TC-1", "no such case")]
    assert (sender.stats.sent, sender.undelivered) == (2, 0)
    state = load(journal.path)
    assert state.pending == [] and list(state.rejected.values()) == ["no such case"]


def test_after_a_connection_failure_it_tries_again_later(transport: FakeTransport, journal: Journal) -> None:
    transport.errors = [ConnectionFailed("refused")]
    sender = Sender(Delivery(transport, journal, "r", None), batch_size=2, cooldown=0.05)
    sender.start()
    submit(sender, journal, 4)
    wait_until(lambda: sender.stats.sent == 4)
    assert sender.flush(5)
    assert load(journal.path).pending == []


def test_a_permanent_refusal_leaves_results_in_the_journal(
    transport: FakeTransport, journal: Journal
) -> None:
    transport.errors = [NotFound(404, "not_found", "Run 'r' was not found.")]
    sender = Sender(Delivery(transport, journal, "r", None), batch_size=10)
    sender.start()
    submit(sender, journal, 3)
    assert sender.flush(5)
    assert sender.undelivered == 3
    assert "was not found" in (sender.stats.last_error or "")
    assert len(load(journal.path).pending) == 3


def test_flush_returns_within_its_timeout_when_the_server_hangs(
    transport: FakeTransport, journal: Journal
) -> None:
    transport.block.clear()
    sender = Sender(Delivery(transport, journal, "r", None), batch_size=10)
    sender.start()
    submit(sender, journal, 3)
    started = time.monotonic()
    assert not sender.flush(0.2)
    assert time.monotonic() - started < 2
    assert sender.undelivered == 3
    transport.block.set()


def test_a_413_halves_the_batch(transport: FakeTransport, journal: Journal) -> None:
    transport.max_items = 2
    entries = [journal.append_result({"test_case_code": f"TC-{n}"}) for n in range(5)]
    remaining, error = send_all(Delivery(transport, journal, "r", None), entries, 8)
    assert (remaining, error) == ([], None)
    assert [len(batch) for batch in transport.batches] == [2, 2, 1]


def test_it_creates_requested_cases_once_before_posting(transport: FakeTransport, journal: Journal) -> None:
    entries = [
        journal.append_result({"test_case_code": "a.py::t"}, create_title="a.py::t"),
        journal.append_result({"test_case_code": "a.py::t"}, create_title="a.py::t"),
        journal.append_result({"test_case_code": "known"}, create_title="known"),
    ]
    delivery = Delivery(transport, journal, "r", {"known"})
    send_all(delivery, entries, 10)
    assert transport.created == ["a.py::t"]
    assert delivery.stats.created_cases == 1


def test_a_slow_flush_calls_slow_once_then_keeps_waiting(transport: FakeTransport, journal: Journal) -> None:
    transport.block.clear()
    sender = Sender(Delivery(transport, journal, "r", None), batch_size=10)
    sender.start()
    submit(sender, journal, 2)
    calls: list[int] = []

    def slow() -> None:
        calls.append(sender.undelivered)
        transport.block.set()  # the collector answers after the line

    assert sender.flush(10, slow=slow, slow_after=0.05)
    assert calls == [2]
    assert sender.stats.sent == 2


def test_a_quick_flush_says_nothing(transport: FakeTransport, journal: Journal) -> None:
    sender = Sender(Delivery(transport, journal, "r", None), batch_size=10)
    sender.start()
    submit(sender, journal, 2)
    calls: list[str] = []
    assert sender.flush(10, slow=lambda: calls.append("slow"), slow_after=5)
    assert calls == []
