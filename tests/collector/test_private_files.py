"""What the collector writes to disk is readable by its own user only (the umask aside)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.config import Settings
from collector.db import open_database
from collector.storage import DirectoryStorage
from collector.web.session import secret_key


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common umask (022), under which a plain mkdir would give everyone read access."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_the_default_qahub_folder_and_database_are_private(tmp_path: Path) -> None:
    db = open_database(Settings(database_url=f"sqlite:///{tmp_path / '.qahub' / 'qahub.db'}"))
    db.connect()
    db.execute_sql("CREATE TABLE t (x)")
    db.close()

    assert mode(tmp_path / ".qahub") == 0o700
    assert mode(tmp_path / ".qahub" / "qahub.db") == 0o600


def test_an_existing_database_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    os.chmod(path, 0o640)

    open_database(Settings(database_url=f"sqlite:///{path}"))

    assert mode(path) == 0o640


def test_attachment_folders_and_the_session_key_are_private(tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path / ".qahub" / "attachments")
    with storage.create_temp() as handle:
        handle.write(b"x")
    storage.save_from_temp(handle.name, "abcdefgh12")
    key_settings = Settings(storage_dir=tmp_path / "other" / "attachments")
    secret_key(key_settings)

    assert mode(tmp_path / ".qahub" / "attachments") == 0o700
    assert mode(storage.path_for("abcdefgh12").parent) == 0o700
    assert mode(storage.path_for("abcdefgh12")) == 0o600
    assert mode(tmp_path / "other") == 0o700
