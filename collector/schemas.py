"""Request bodies as pydantic models: they validate input and describe it in ``/openapi.json``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from collector.models import RUN_STATUSES
from qahub_contract import RESULT_STATUSES, RUN_NAME_LIMIT, RUN_TAG_LIMITS

ResultStatus = Literal[RESULT_STATUSES]
RunStatus = Literal[RUN_STATUSES]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; keep the rest of a stack trace rather than refuse it.
    return value.replace("\x00", "\ufffd")


#: How far ahead of the collector's clock an ``executed_at`` may be. A result stamped later
#: would outrank every real result of its case until then ("an older result never overwrites
#: a newer one"); a day leaves room for any clock skew between CI machines and the collector.
MAX_FUTURE = dt.timedelta(days=1)


def _utc(value: dt.datetime) -> dt.datetime:
    """The time in UTC, without a zone (a time given without one is taken as UTC).

    Shifted by hand: ``astimezone`` on pydantic's zone and ``replace(tzinfo=None)`` took
    1.7 µs of the 3.3 µs each item of a batch spent in validation, this takes 0.5.
    """
    offset = value.utcoffset()
    if offset is None:
        return value
    try:
        return dt.datetime.combine(value.date(), value.time()) - offset
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
        raise ValueError("is out of range once converted to UTC") from None


Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Ident = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_no_nul)]
Label = Annotated[str, StringConstraints(max_length=200), AfterValidator(_no_nul)]
ShortText = Annotated[str, StringConstraints(max_length=65_536), AfterValidator(_text)]
LongText = Annotated[str, StringConstraints(max_length=1_048_576), AfterValidator(_text)]
Url = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_no_nul)]
UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]


class ResultIn(BaseModel):
    """One item of a bulk upsert (the seed's result input fields)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    test_case_code: Code | None = None
    test_case_id: Ident | None = None
    status: ResultStatus
    comment: ShortText | None = None
    bug_ticket_key: Label | None = None
    bug_ticket_url: Url | None = None
    duration_ms: int | None = Field(default=None, ge=0, le=2**53)
    framework: Annotated[str, StringConstraints(max_length=100), AfterValidator(_no_nul)] | None = None
    error_message: ShortText | None = None
    error_stack: LongText | None = None
    executed_at: UtcDatetime | None = None  # at most MAX_FUTURE ahead: see validate_items

    @model_validator(mode="after")
    def _one_reference(self) -> ResultIn:
        if (self.test_case_code is None) == (self.test_case_id is None):
            raise ValueError("give exactly one of test_case_code and test_case_id")
        return self


class ResultsIn(BaseModel):
    """The bulk upsert envelope, for the API's description.

    The envelope is checked by `collector.results.batch_items`, and each item on its own
    (`validate_items`), so one bad item is rejected alone.
    """

    results: list[ResultIn] = Field(min_length=1)


Environment = Annotated[
    str, StringConstraints(max_length=RUN_TAG_LIMITS["environment"]), AfterValidator(_no_nul)
]
Branch = Annotated[str, StringConstraints(max_length=RUN_TAG_LIMITS["branch"]), AfterValidator(_no_nul)]
Commit = Annotated[str, StringConstraints(max_length=RUN_TAG_LIMITS["commit"]), AfterValidator(_no_nul)]
BuildUrl = Annotated[str, StringConstraints(max_length=RUN_TAG_LIMITS["build_url"]), AfterValidator(_no_nul)]
RunName = Annotated[str, StringConstraints(max_length=RUN_NAME_LIMIT), AfterValidator(_no_nul)]


class RunTagsIn(BaseModel):
    """Where a run comes from; each is optional."""

    model_config = ConfigDict(defer_build=True)

    environment: Environment | None = None
    branch: Branch | None = None
    commit: Commit | None = None
    build_url: BuildUrl | None = None

    def tags(self) -> dict[str, str | None]:
        """The tags the client sent (on a PATCH, a tag sent as null is cleared)."""
        return {name: getattr(self, name) for name in RunTagsIn.model_fields if name in self.model_fields_set}


class RunIn(RunTagsIn):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: RunName = ""


class RunPatch(RunTagsIn):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: RunName | None = None
    status: RunStatus | None = None


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    code: Code
    title: Annotated[str, StringConstraints(max_length=4000), AfterValidator(_text)] = ""


class CasePatch(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    code: Code | None = None
    title: Annotated[str, StringConstraints(max_length=4000), AfterValidator(_text)] | None = None


RESULT_ITEMS = TypeAdapter(list[ResultIn], config=ConfigDict(defer_build=True))


def describe(ex: ValidationError) -> str:
    """Summarise a pydantic error in one readable line: ``field: problem; field: problem``."""
    parts = []
    for error in ex.errors(include_url=False):
        loc = ".".join(str(p) for p in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {message}")
    return "; ".join(parts)


def validate_items(raw: list) -> tuple[list[tuple[int, ResultIn]], list[tuple[int, dict, str]]]:
    """Validate a batch at once; fall back to item by item only when something is wrong.

    Returns ``(valid, invalid)``: ``(index, item)`` pairs and ``(index, raw, message)`` triples.
    """
    try:
        valid, invalid = list(enumerate(RESULT_ITEMS.validate_python(raw))), []
    except ValidationError:  # find which items are wrong
        valid, invalid = [], []
        for index, item in enumerate(raw):
            try:
                valid.append((index, ResultIn.model_validate(item)))
            except ValidationError as ex:
                invalid.append((index, item if isinstance(item, dict) else {}, describe(ex)))
    # Checked here, once per batch: a validator reading the clock for every item doubled the
    # time a batch spends in validation.
    latest = dt.datetime.now(dt.UTC).replace(tzinfo=None) + MAX_FUTURE
    future = {index for index, item in valid if item.executed_at is not None and item.executed_at > latest}
    if future:
        message = (
            f"executed_at: is more than {MAX_FUTURE.days} day ahead of the collector's clock "
            f"(latest accepted: {latest.isoformat(timespec='seconds')}Z)"
        )
        invalid += [(index, raw[index] if isinstance(raw[index], dict) else {}, message) for index in future]
        valid = [(index, item) for index, item in valid if index not in future]
    return valid, invalid
