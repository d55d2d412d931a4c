"""What varies in an error message is masked, so failures with one cause share one pattern."""

from __future__ import annotations

import pytest

from collector.failure_groups import MESSAGE_CHARS, pattern


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("TimeoutError: Timeout 30000ms exceeded", "TimeoutError: Timeout <n>ms exceeded"),
        ("assert 0.75 == 1.0", "assert <n> == <n>"),
        (
            "AssertionError: expected 'Order confirmed', got 'Declined'",
            "AssertionError: expected '<…>', got '<…>'",
        ),
        ('assert "abc" == "abd"', 'assert "<…>" == "<…>"'),
        ("order 550e8400-e29b-41d4-a716-446655440000 missing", "order <uuid> missing"),
        ("<Page object at 0x7f3a2b4c5d60> is closed", "<Page object at <addr>> is closed"),
        ("commit 3f2a9c1d not found", "commit <hex> not found"),
        ("KeyError: user c0mx1aaz50jqdh3dyso3ni3xs", "KeyError: user <id>"),
        ("at 2026-05-13T12:00:00.123Z and 2026-05-13 12:00", "at <time> and <time>"),
        ("http2 and e2e and py3.12 and test_case_3 stay", "http2 and e2e and py3.12 and test_case_3 stay"),
        ("line one\n\n   line   two  ", "line one line two"),
    ],
)
def test_values_in_a_message_are_masked(message: str, expected: str) -> None:
    assert pattern(message) == expected


@pytest.mark.parametrize("message", [None, "", "   \n "])
def test_a_failure_without_a_message_has_no_pattern(message: str | None) -> None:
    assert pattern(message) is None


def test_only_the_start_of_a_huge_message_is_compared() -> None:
    assert pattern("x" * MESSAGE_CHARS + "tail") == "x" * MESSAGE_CHARS
