"""Peewee models: projects, tokens, test cases, runs, results and attachments."""

from __future__ import annotations

import datetime as dt

import peewee

from collector.db import database
from collector.ids import new_id
from qahub_contract import BROKEN, FAILED

RUN_STATUSES = ("PENDING", "IN_PROGRESS", "COMPLETED")
#: The optional fields that say where a run comes from.
RUN_TAGS = ("environment", "branch", "commit", "build_url")
#: The statuses that count as failing when runs are compared and flakiness is judged.
FAILING_STATUSES = (FAILED, BROKEN)


def utcnow() -> dt.datetime:
    """Naive UTC now: every timestamp in the database is naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(peewee.Model):
    """Holds the database; nothing else."""

    class Meta:
        database = database
        legacy_table_names = False

    @classmethod
    def from_row(cls, columns: tuple[str, ...], values: tuple, **related: peewee.Model) -> peewee.Model:
        """Build an instance from a raw query's row, converted as peewee converts what it reads.

        For the few look-ups every request makes, where building the query with peewee would
        cost more than running it.
        """
        fields = cls._meta.fields
        data = {name: fields[name].python_value(value) for name, value in zip(columns, values, strict=True)}
        instance = cls(__no_default__=1, **data, **related)  # as peewee builds what it reads: no defaults
        instance._dirty.clear()  # nothing to save
        return instance


class IdField(peewee.CharField):
    """A cuid-style primary key (or reference to one)."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)


class Project(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    key = peewee.CharField(max_length=64, unique=True)
    name = peewee.CharField(max_length=200)
    created_at = peewee.DateTimeField(default=utcnow)


class ApiToken(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    project = peewee.ForeignKeyField(Project, backref="tokens", on_delete="CASCADE")
    prefix = peewee.CharField(max_length=16, unique=True)
    secret_hash = peewee.CharField(max_length=64)
    name = peewee.CharField(max_length=200, default="")
    scopes = peewee.CharField(max_length=64)  # comma separated: "read,write"
    created_at = peewee.DateTimeField(default=utcnow)
    revoked_at = peewee.DateTimeField(null=True)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)


class TestCase(BaseModel):
    __test__ = False  # not a pytest test class

    id = IdField(primary_key=True, default=new_id)
    project = peewee.ForeignKeyField(Project, backref="cases", on_delete="CASCADE")
    code = peewee.CharField(max_length=200)
    title = peewee.TextField(default="")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("project", "code"), True),)


class Run(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    project = peewee.ForeignKeyField(Project, backref="runs", on_delete="CASCADE")
    name = peewee.CharField(max_length=200, default="")
    status = peewee.CharField(max_length=16, default="PENDING")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    completed_at = peewee.DateTimeField(null=True)
    # Where the run comes from (optional; the plugin fills them from the CI's environment).
    environment = peewee.CharField(max_length=200, null=True)
    branch = peewee.CharField(max_length=255, null=True)
    commit = peewee.CharField(max_length=100, null=True, column_name="commit_sha")  # COMMIT is SQL
    build_url = peewee.TextField(null=True)

    class Meta:
        indexes = ((("project", "created_at"), False),)


class Result(BaseModel):
    """The outcome of one test case in one run: at most one row per (run, test case)."""

    id = IdField(primary_key=True, default=new_id)
    # No index of their own: (run, ...) below and the case's history index lead with them, and
    # serve look-ups and cascades as well; each index more is written with every new result.
    run = peewee.ForeignKeyField(Run, backref="results", on_delete="CASCADE", index=False)
    test_case = peewee.ForeignKeyField(TestCase, backref="results", on_delete="CASCADE", index=False)
    status = peewee.CharField(max_length=16)
    comment = peewee.TextField(null=True)
    bug_ticket_key = peewee.CharField(max_length=200, null=True)
    bug_ticket_url = peewee.TextField(null=True)
    duration_ms = peewee.BigIntegerField(null=True)
    framework = peewee.CharField(max_length=100, null=True)
    error_message = peewee.TextField(null=True)
    error_stack = peewee.TextField(null=True)
    executed_at = peewee.DateTimeField()
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("run", "test_case"), True),
            (("run", "status"), False),
            (("run", "id"), False),
        )


class Attachment(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    result = peewee.ForeignKeyField(Result, backref="attachments", on_delete="CASCADE")
    file_name = peewee.CharField(max_length=255)
    mime_type = peewee.CharField(max_length=100)
    size = peewee.BigIntegerField()
    storage_key = peewee.CharField(max_length=255)
    created_at = peewee.DateTimeField(default=utcnow)


class PendingDeletion(BaseModel):
    """A stored file to remove: no attachment row points at it (any more, or yet).

    Written in the transaction that deletes the rows (or before an upload starts), so a file
    whose removal failed, or whose process died, is never forgotten; removed once the file is.
    """

    key = peewee.CharField(max_length=255, primary_key=True)
    due_at = peewee.DateTimeField(index=True)
    attempts = peewee.IntegerField(default=0)
    last_error = peewee.TextField(null=True)


class WebSession(BaseModel):
    """A signed-in web page session; signing out deletes it, so a copied cookie stops working."""

    id = peewee.CharField(max_length=64, primary_key=True)  # a hash of the cookie's session id
    token = peewee.ForeignKeyField(ApiToken, backref="web_sessions", on_delete="CASCADE")
    created_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField(index=True)


class SchemaVersion(BaseModel):
    """The schema version this database was last upgraded to (one row)."""

    version = peewee.IntegerField()

    class Meta:
        table_name = "qahub_schema"


ALL_MODELS = (Project, ApiToken, TestCase, Run, Result, Attachment, WebSession)
