"""End to end: a pytest session removes old delivered journals when it ends."""

from __future__ import annotations

import pytest

from tests.unit.plugin.test_journal import finished_journal


def test_a_session_removes_old_delivered_journals_when_it_ends(pytester: pytest.Pytester) -> None:
    journals = pytester.path / ".qahub" / "journal"
    journals.mkdir(parents=True)
    old = [finished_journal(journals, f"202605{day:02d}T120000") for day in (1, 2)]
    waiting = finished_journal(journals, "20260503T120000", delivered=False)
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest_subprocess("--qahub-run=local-1", "--qahub-keep-journals=1")
    assert result.ret == 0
    left = sorted(journals.glob("*.jsonl"))
    assert waiting in left and not any(path in left for path in old)
    assert len(left) == 2  # this session's journal, and the one still waiting for replay
