"""Journal entries for tests: a result appended the test process's way, as the delivery side reads it."""

from __future__ import annotations

from typing import Any

from pytest_qahub.journal import Entry, Journal


def journal_entry(journal: Journal, payload: dict[str, Any], create_title: str | None = None) -> Entry:
    """Append a result to journal; return it as `Follower` and `load` give it back."""
    return Entry(journal.append_payload(payload, create_title), payload, create_title)
