"""Response bodies as pydantic models: they serialise every JSON answer and describe it in ``/openapi.json``.

Models are built from what the domain returns (peewee rows and dataclasses are read by their
attributes) and serialised with ``model_dump_json``; rows read raw are typed dicts, and a long
listing of them goes out through a `TypeAdapter` in one call. Timestamps go out as ISO 8601 in
UTC with milliseconds and a ``Z``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Generic, Literal, NotRequired, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, TypeAdapter, WithJsonSchema
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from collector.schemas import ResultStatus, RunStatus


def iso(value: dt.datetime | str) -> str:
    """Format a timestamp as ISO 8601 in UTC with milliseconds and a ``Z``.

    Stored timestamps are naive UTC: a datetime, or the text SQLite returns for one when read
    raw (``2026-05-13 12:00:00.123456``), which is reformatted without parsing it.
    """
    if isinstance(value, str):
        head, _, fraction = value.replace(" ", "T", 1).partition(".")
        return f"{head}.{(fraction + '000')[:3]}Z"
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


#: A stored timestamp; text read raw from SQLite is kept as it is until it is written out.
Timestamp = Annotated[
    dt.datetime | str,
    PlainSerializer(iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Count = Annotated[int, Field(ge=0)]


#: For the type adapters: built on first use, like the models.
_DEFERRED = ConfigDict(defer_build=True)


class Answer(BaseModel):
    """Base of the response models: read from attributes, written with their JSON names.

    What the domain hands over as dicts (a run's results, a case's history, the items of a
    bulk upsert's answer) is typed by a `TypedDict` instead: pydantic serialises a list of
    them in one call, without building a model per row.
    """

    # Built on first use: a process that never answers with a model never pays for building it.
    model_config = ConfigDict(from_attributes=True, serialize_by_alias=True, defer_build=True)


T = TypeVar("T")


class Data(Answer, Generic[T]):
    """One object under ``data``."""

    data: T


class DataList(Answer, Generic[T]):
    """A whole list under ``data``."""

    data: list[T]


class Pagination(Answer):
    total: Count
    limit: int
    offset: int


class Page(Answer, Generic[T]):
    """One page of a listing and where it lies."""

    data: list[T]
    pagination: Pagination

    @classmethod
    def of(cls, items: list, total: int, limit: int, offset: int, **extra: object) -> Self:
        """Build the page holding ``items`` of ``total``, read at ``limit`` and ``offset``."""
        return cls(data=items, pagination=Pagination(total=total, limit=limit, offset=offset), **extra)


class ErrorDetail(Answer):
    status: int
    code: str
    message: str


class Error(Answer):
    """The one error shape of every error the API answers."""

    error: ErrorDetail


class Run(Answer):
    id: str
    name: str
    status: RunStatus
    created_at: Timestamp
    updated_at: Timestamp
    completed_at: Timestamp | None
    environment: str | None
    branch: str | None
    commit: str | None
    build_url: str | None


class Case(Answer):
    id: str
    code: str
    title: str
    created_at: Timestamp
    updated_at: Timestamp


#: A page of cases read raw, validated in one call.
CASES = TypeAdapter(list[Case], config=_DEFERRED)


class Result(TypedDict):
    """A result as a run lists it."""

    id: str
    test_case_id: str
    test_case_code: str
    status: ResultStatus
    comment: str | None
    bug_ticket_key: str | None
    bug_ticket_url: str | None
    duration_ms: int | None
    framework: str | None
    error_message: str | None
    error_stack: str | None
    executed_at: Timestamp
    created_at: Timestamp
    updated_at: Timestamp


#: A run's results, serialised in one call (as the rows were read, without a model per row).
RESULTS = TypeAdapter(list[Result], config=_DEFERRED)


class RunRef(TypedDict):
    """The run a result of a case's history belongs to."""

    id: str
    name: str
    branch: str | None
    commit: str | None
    environment: str | None


class HistoryResult(Result):
    """A result of a case's history: a result as a run lists it, with its run."""

    run: RunRef


class Attachment(Answer):
    """An attachment as the seed's upload response shows it (camelCase names)."""

    id: str
    file_name: str = Field(serialization_alias="fileName")
    mime_type: str = Field(serialization_alias="mimeType")
    size: Count
    created_at: Timestamp = Field(serialization_alias="createdAt")


class Accepted(TypedDict):
    """An accepted item of a bulk upsert: the result it wrote."""

    id: str
    test_case_id: str
    test_case_code: str
    status: ResultStatus


class ItemError(TypedDict):
    """A rejected item of a bulk upsert: its index in the request, the reference it gave, why."""

    index: int
    test_case_code: NotRequired[str]
    test_case_id: NotRequired[str]
    message: str


class Upserted(Answer):
    """The answer of a bulk upsert, 201 (all accepted) or 207 (some rejected); accepted in request order."""

    data: list[Accepted]
    errors: list[ItemError]


class Comparison(Answer):
    """A run against its base run: test case codes in each list, ordered by code."""

    run: Run
    base: Run | None
    base_chosen: str
    new_failures: list[str]
    fixed: list[str]
    still_failing: list[str]
    added: list[str]
    missing: list[str]
    flaky: list[str]
    blocking: list[str]
    flaky_evidence: dict[str, list[str]]
    flaky_scope: str


class SeriesFlips(Answer):
    branch: str | None
    environment: str | None
    flips: Count
    runs: Count


class CommitConflict(Answer):
    commit: str
    environment: str | None
    passed: Count
    failed: Count


class FlakyEvidence(Answer):
    flips: list[SeriesFlips]
    same_commit: list[CommitConflict]
    passed_on_rerun: Count


class FlakyCase(Answer):
    test_case_id: str
    test_case_code: str
    score: Count
    passed: Count
    failed: Count
    last_status: Literal["passing", "failing"]
    evidence: FlakyEvidence
    reasons: list[str]


class FlakyScope(Answer):
    runs: Count
    description: str


class FlakyPage(Page[FlakyCase]):
    """The project's flaky cases, worst first, and the runs they were judged in."""

    scope: FlakyScope


class FailureGroup(Answer):
    pattern: str | None
    count: Count
    codes: list[str]
    statuses: dict[str, Count]
    example: str | None


class ProjectInfo(Answer):
    id: str
    key: str
    name: str


class TokenInfo(Answer):
    prefix: str
    name: str


class Me(Answer):
    """The token's project and scopes (``token`` is null in the embedded collector)."""

    project: ProjectInfo
    scopes: list[str]
    token: TokenInfo | None


class Health(Answer):
    """Liveness: ``status`` is ``degraded`` when only the attachment storage fails."""

    status: Literal["ok", "degraded", "unavailable"]
    database: str
    storage: Literal["ok", "unavailable"]


class RunData(Data[Run]):
    """A run."""


class RunPage(Page[Run]):
    """The project's runs, newest first."""


class CaseData(Data[Case]):
    """A test case."""


class CasePage(Page[Case]):
    """The project's test cases, ordered by code."""


class ResultList(DataList[Result]):
    """All results of a run (streamed)."""


class HistoryPage(Page[HistoryResult]):
    """A case's results across runs, newest first (by executed_at)."""


class AttachmentList(DataList[Attachment]):
    """A result's attachments."""


class ComparisonData(Data[Comparison]):
    """A run compared with its base run."""


class FailureGroupList(DataList[FailureGroup]):
    """A run's failures grouped by their masked message, the biggest group first."""


class MeData(Data[Me]):
    """The token's project and scopes."""
