"""The embedded collector's door before any database: what it offers, and settings it cannot use."""

from __future__ import annotations

from pathlib import Path

import pytest

import collector.embedded
from collector.embedded import CollectorError, EmbeddedCollector, embedded_settings


def test_the_door_offers_the_collector_its_settings_and_its_errors() -> None:
    assert sorted(collector.embedded.__all__) == [
        "CollectorError",
        "DatabaseURLError",
        "EmbeddedCollector",
        "SettingsError",
        "embedded_settings",
    ]
    for name in collector.embedded.__all__:
        assert getattr(collector.embedded, name)


def opening_fails(tmp_path: Path, url: str | None = None, project: str | None = None) -> CollectorError:
    """Open an embedded collector that cannot open; return the error it raised."""
    with pytest.raises(CollectorError) as caught:
        settings = embedded_settings(tmp_path, url or f"sqlite:///{tmp_path / 'qahub.db'}")
        EmbeddedCollector(settings, project).close()
    return caught.value


def test_a_bad_setting_is_a_400_naming_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTACHMENT_MAX_BYTES", "lots")
    error = opening_fails(tmp_path)
    assert (error.status, error.code) == (400, "bad_request")
    assert "ATTACHMENT_MAX_BYTES='lots'" in error.message


def test_a_database_url_it_cannot_open_is_a_400(tmp_path: Path) -> None:
    error = opening_fails(tmp_path, "mongodb://somewhere/db")
    assert error.status == 400 and "QAHUB_DATABASE_URL" in error.message
