"""Helpers every resource uses: reading a bounded JSON body, validation, pagination, the reply."""

from __future__ import annotations

from typing import TypeVar

import falcon
import orjson
from pydantic import BaseModel, ValidationError

from collector.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, shorten
from collector.jsonsize import more_values_than
from collector.schemas import describe

M = TypeVar("M", bound=BaseModel)
#: JSON values a body other than a batch of results may hold (a run or case has a few).
MAX_VALUES = 1000
#: The largest offset both databases take (a 64-bit signed integer); beyond it they fail.
MAX_OFFSET = 2**63 - 1


def read_json(req: falcon.Request, max_bytes: int, max_values: int = MAX_VALUES) -> object:
    """Read and parse a JSON body of at most ``max_bytes`` and ``max_values``, refusing anything else.

    The values are counted before anything is built (see :mod:`collector.jsonsize`), so a
    hostile body costs its bytes, not the many times more its parse would.
    """
    media_type = (req.content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(
            f"Send the body as application/json (got {req.content_type or 'no Content-Type'})"
        )
    length = req.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"The body is {length} bytes; the limit is {max_bytes}")
    body = req.bounded_stream.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"The body exceeds the limit of {max_bytes} bytes")
    if not body:
        raise BadRequest("The request body is empty; send a JSON object")
    if more_values_than(body, max_values):
        raise PayloadTooLarge(f"The body holds more than {max_values} JSON values")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as ex:
        raise BadRequest(f"The body is not valid JSON: {ex}") from ex


def parse_model(model: type[M], req: falcon.Request, max_bytes: int) -> M:
    """Read a JSON object and validate it as ``model``."""
    data = read_json(req, max_bytes)
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as ex:
        raise BadRequest(describe(ex)) from ex


def page_params(req: falcon.Request, max_limit: int = 500, default: int = 100) -> tuple[int, int]:
    """Read ``limit`` (1..max_limit) and ``offset`` (>= 0) from the query string."""
    limit = _int_param(req, "limit", default)
    offset = _int_param(req, "offset", 0)
    if not 1 <= limit <= max_limit:
        raise BadRequest(f"limit must be between 1 and {max_limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise BadRequest(f"offset must be between 0 and {MAX_OFFSET}")
    return limit, offset


def _int_param(req: falcon.Request, name: str, default: int) -> int:
    raw = req.get_param(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as ex:
        raise BadRequest(f"{name} must be a whole number, not {shorten(raw)!r}") from ex


def int_param(req: falcon.Request, name: str, default: int) -> int:
    """Read a whole number from the query string (``default`` when absent)."""
    return _int_param(req, name, default)


def text_param(req: falcon.Request, name: str, max_chars: int = 255) -> str | None:
    """Read an optional text from the query string; empty is absent, NUL or overlong text is refused."""
    raw = req.get_param(name)
    if not raw:
        return None
    if "\x00" in raw:
        raise BadRequest(f"{name} must not contain NUL characters")
    if len(raw) > max_chars:
        raise BadRequest(f"{name} is longer than {max_chars} characters")
    return raw


def send(resp: falcon.Response, body: BaseModel, status: str = falcon.HTTP_200) -> None:
    """Reply with ``body``, serialised by its response model (`collector.responses`)."""
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = body.model_dump_json().encode()
