"""The collector's errors, and the API's one error shape they are answered with.

Domain code raises :class:`CollectorError` subclasses, each with the HTTP status and error code
it is reported with. The app maps them, Falcon's own errors and any unexpected failure to one
shape with the handlers below (registered in ``collector/app.py``); the embedded collector
hands them to the plugin as they are. Falcon is imported only inside the handlers, so the
embedded collector starts without the web framework.

Every error body is ``{"error": {"status": 404, "code": "not_found", "message": "..."}}``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import falcon

log = logging.getLogger("collector")
DATABASE_RETRY_AFTER_S = 2


def shorten(value: str, limit: int = 80) -> str:
    """Quote a client-supplied value in a message without echoing kilobytes of it."""
    return value if len(value) <= limit else value[:limit] + "…"


class CollectorError(Exception):
    """Base of every error the collector reports to a client."""

    status = 400  # the HTTP status the API answers with
    code = "bad_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(CollectorError):
    pass


class Unauthorized(CollectorError):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="qahub"'})


class Forbidden(CollectorError):
    status = 403
    code = "forbidden"


class NotFound(CollectorError):
    status = 404
    code = "not_found"


class Conflict(CollectorError):
    status = 409
    code = "conflict"


class PayloadTooLarge(CollectorError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(CollectorError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(CollectorError):
    status = 429
    code = "too_many_requests"


class ServiceUnavailable(CollectorError):
    status = 503
    code = "unavailable"


class SettingsError(BadRequest):
    """The environment (or the caller) holds a setting the collector cannot use."""


class DatabaseURLError(SettingsError):
    """The database URL names nothing the collector can open."""


class DatabaseTooNew(SettingsError):
    """The database was upgraded by a newer collector than this one."""


class StorageError(ServiceUnavailable):
    """The attachment store cannot be used right now (503 with ``Retry-After``: try again).

    The details go to the server's log; a client learns only what failed.
    """

    def __init__(self, message: str = "The attachment storage is unavailable; try again later") -> None:
        super().__init__(message, headers={"Retry-After": "30"})


#: The error code of each status an answer can have, Falcon's own errors (405, 411) included.
_CODES = {
    **{
        kind.status: kind.code
        for kind in (
            *(BadRequest, Unauthorized, Forbidden, NotFound, Conflict),
            *(PayloadTooLarge, UnsupportedMediaType, TooManyRequests, ServiceUnavailable),
        )
    },
    405: "method_not_allowed",
    411: "length_required",
}


def error_body(status: int, code: str, message: str) -> dict:
    """Build the one error shape."""
    return {"error": {"status": status, "code": code, "message": message}}


def _set_error(resp: falcon.Response, status: int, code: str, message: str) -> None:
    resp.status = status
    resp.media = error_body(status, code, message)


def handle_collector_error(req: falcon.Request, resp: falcon.Response, ex: CollectorError, params) -> None:
    """Turn a domain error into its status and the one error shape."""
    _set_error(resp, ex.status, ex.code, ex.message)
    for name, value in ex.headers.items():
        resp.set_header(name, value)


def handle_http_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params) -> None:
    """Give Falcon's own errors (404 route, 405, bad headers) the same shape."""
    import falcon

    status = falcon.http_status_to_code(ex.status)
    message = ex.description or {
        404: f"No endpoint at {req.path}",
        405: f"{req.method} is not allowed on {req.path}",
    }.get(status, ex.title or "Request failed")
    _set_error(resp, status, _CODES.get(status, "error"), message)
    for name, value in (ex.headers or {}).items():
        resp.set_header(name, value)


def handle_database_busy(req: falcon.Request, resp: falcon.Response, ex: Exception, params) -> None:
    """A database that is locked, overloaded or gone answers 503 with ``Retry-After``, never 500."""
    log.warning("Database unavailable on %s %s: %s", req.method, req.path, ex)
    message = "The database is busy or unavailable; try again shortly"
    _set_error(resp, ServiceUnavailable.status, ServiceUnavailable.code, message)
    resp.set_header("Retry-After", str(DATABASE_RETRY_AFTER_S))


def handle_unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params) -> None:
    """Log an unexpected failure with its traceback; tell the client only that it happened."""
    log.error("Unhandled error on %s %s", req.method, req.path, exc_info=ex)
    _set_error(resp, 500, "internal_error", "The collector failed to handle this request")
