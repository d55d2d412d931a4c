"""Projects: every token, case and run belongs to one."""

from __future__ import annotations

import re

from collector.db import write_transaction
from collector.errors import BadRequest, Conflict, NotFound
from collector.migrations import DEFAULT_PROJECT_KEY
from collector.models import Project


def get_project(key: str | None = None) -> Project:
    """Return the project with ``key`` (the default project when ``None``)."""
    project = Project.get_or_none(Project.key == (key or DEFAULT_PROJECT_KEY))
    if project is None:
        raise NotFound(f"No project with key '{key}'")
    return project


#: A key goes into commands, URLs and file names: lower-case letters, digits, ``-`` and ``_``.
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_NAME_CHARS = 200


def create_project(key: str, name: str = "") -> Project:
    """Create a project; its key must be new and well-formed."""
    if not _KEY.match(key):
        raise BadRequest(
            f"Project key {key[:80]!r} is not valid: use 1-64 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit (e.g. web-app)"
        )
    if len(name) > MAX_NAME_CHARS or "\x00" in name:
        raise BadRequest(f"A project name has at most {MAX_NAME_CHARS} characters and no NUL")
    with write_transaction():
        if Project.select().where(Project.key == key).exists():
            raise Conflict(f"A project with key '{key}' already exists")
        return Project.create(key=key, name=name or key)
