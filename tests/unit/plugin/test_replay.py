"""``qahub replay`` with nothing to send or nowhere to send it: it says why and keeps the results."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pytest_qahub.delivery.replay import replay
from pytest_qahub.journal import Journal, load
from tests.support.journals import journal_entry


def test_replay_without_journals_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert replay([], None, None, out) == 0
    assert replay([tmp_path], None, None, out) == 0
    assert out.getvalue() == "qahub replay: no journals found\n" * 2


def test_replay_needs_a_url_when_the_journal_has_none(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path, url=None, run_id="r")
    journal_entry(journal, {"test_case_code": "X", "status": "PASSED"})
    journal.close()
    out = io.StringIO()
    assert replay([journal.path], None, None, out) == 2
    assert "no URL or run to send to; pass --url and --run" in out.getvalue()
    assert len(load(journal.path).pending) == 1


def test_replay_names_a_missing_ca_bundle_and_keeps_the_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.create(tmp_path, url="https://qahub.invalid", run_id="r")
    journal_entry(journal, {"test_case_code": "X", "status": "PASSED"})
    journal.close()
    missing = tmp_path / "no-such-bundle.pem"
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(missing))
    out = io.StringIO()
    assert replay([journal.path], None, "t", out) == 2
    assert f"cannot open https://qahub.invalid: the CA bundle {missing} " in out.getvalue()
    assert len(load(journal.path).pending) == 1


def test_replay_to_a_url_that_cannot_be_used_says_why_and_keeps_the_results(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path, url="http://127.0.0.1:9", run_id="r")
    journal_entry(journal, {"test_case_code": "X", "status": "PASSED"})
    journal.close()
    out = io.StringIO()
    assert replay([journal.path], "http://[::1", "t", out) == 2
    assert "cannot open http://[::1: invalid URL 'http://[::1': cannot be parsed" in out.getvalue()
    assert len(load(journal.path).pending) == 1
