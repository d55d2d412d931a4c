"""Signing in without the app: where ``next`` may send a browser, and the sessions' secret key."""

from __future__ import annotations

import os

import pytest

from collector.config import Settings
from collector.errors import SettingsError
from collector.web.pages import local_path
from collector.web.session import KEY_FILE, secret_key


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("/runs/1?status=FAILED", "/runs/1?status=FAILED"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/runs/\r\nSet-Cookie: x", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_next_is_only_ever_a_local_path(candidate: str | None, expected: str) -> None:
    assert local_path(candidate) == expected


def test_the_secret_key_is_made_once_with_owner_only_access(tmp_path) -> None:
    settings = Settings(storage_dir=tmp_path / "data" / "attachments")

    first = secret_key(settings)

    path = tmp_path / "data" / KEY_FILE
    assert path.read_text() == first and len(first) >= 32
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert secret_key(settings) == first
    assert secret_key(settings.model_copy(update={"secret_key": "from-the-environment!"})) == (
        "from-the-environment!"
    )


def test_an_empty_secret_key_file_is_refused(tmp_path) -> None:
    (tmp_path / KEY_FILE).write_text("\n")

    with pytest.raises(SettingsError, match="holds no usable key"):
        secret_key(Settings(storage_dir=tmp_path / "attachments"))
