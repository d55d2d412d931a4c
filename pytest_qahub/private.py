"""Folders and files of the plugin that only the user running pytest may read.

Journals and pending attachments hold error messages, stack traces, logs and screenshots,
which can hold secrets (a token in a URL, a password in an assertion): on a shared CI runner
or workstation nobody else should read them. Existing folders keep their permissions.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents, readable by this user only."""
    if path.is_dir():
        return
    for directory in reversed([path, *(p for p in path.parents if not p.exists())]):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # made by another process (an xdist worker) meanwhile


def create_file(path: Path, flags: int = os.O_WRONLY) -> int:
    """Create a new file readable by this user only; return its descriptor."""
    return os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
