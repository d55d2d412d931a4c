"""Projects: every token, case and run belongs to one."""

from __future__ import annotations

from collector.db import write_transaction
from collector.errors import Conflict, NotFound
from collector.models import Project
from collector.schema import DEFAULT_PROJECT_KEY


def get_project(key: str | None = None) -> Project:
    """Return the project with ``key`` (the default project when ``None``)."""
    project = Project.get_or_none(Project.key == (key or DEFAULT_PROJECT_KEY))
    if project is None:
        raise NotFound(f"No project with key '{key}'")
    return project


def create_project(key: str, name: str = "") -> Project:
    """Create a project; its key must be new."""
    with write_transaction():
        if Project.select().where(Project.key == key).exists():
            raise Conflict(f"A project with key '{key}' already exists")
        return Project.create(key=key, name=name or key)
