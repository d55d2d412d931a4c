"""Domain exceptions and the API's one error shape.

Every error body is ``{"error": {"status": 404, "code": "not_found", "message": "..."}}``.
Domain code raises :class:`CollectorError` subclasses; the app maps them once.
"""

from __future__ import annotations

import logging

import falcon

log = logging.getLogger("collector")


def shorten(value: str, limit: int = 80) -> str:
    """Quote a client-supplied value in a message without echoing kilobytes of it."""
    return value if len(value) <= limit else value[:limit] + "…"


class CollectorError(Exception):
    """Base of every error the collector reports to a client."""

    status = falcon.HTTP_400
    code = "bad_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(CollectorError):
    pass


class Unauthorized(CollectorError):
    status = falcon.HTTP_401
    code = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="qahub"'})


class Forbidden(CollectorError):
    status = falcon.HTTP_403
    code = "forbidden"


class NotFound(CollectorError):
    status = falcon.HTTP_404
    code = "not_found"


class Conflict(CollectorError):
    status = falcon.HTTP_409
    code = "conflict"


class PayloadTooLarge(CollectorError):
    status = falcon.HTTP_413
    code = "payload_too_large"


class UnsupportedMediaType(CollectorError):
    status = falcon.HTTP_415
    code = "unsupported_media_type"


class TooManyRequests(CollectorError):
    status = falcon.HTTP_429
    code = "too_many_requests"


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def error_body(status: int, code: str, message: str) -> dict:
    """Build the one error shape."""
    return {"error": {"status": status, "code": code, "message": message}}


def _set_error(resp: falcon.Response, status: str, code: str, message: str) -> None:
    resp.status = status
    resp.media = error_body(falcon.http_status_to_code(status), code, message)


def handle_collector_error(req, resp, ex: CollectorError, params) -> None:
    """Turn a domain error into its status and the one error shape."""
    _set_error(resp, ex.status, ex.code, ex.message)
    for name, value in ex.headers.items():
        resp.set_header(name, value)


def handle_http_error(req, resp, ex: falcon.HTTPError, params) -> None:
    """Give Falcon's own errors (404 route, 405, bad headers) the same shape."""
    code = falcon.http_status_to_code(ex.status)
    message = ex.description or {
        404: f"No endpoint at {req.path}",
        405: f"{req.method} is not allowed on {req.path}",
    }.get(code, ex.title or "Request failed")
    _set_error(resp, ex.status, _CODES.get(code, "error"), message)
    for name, value in (ex.headers or {}).items():
        resp.set_header(name, value)


def handle_unexpected(req, resp, ex: Exception, params) -> None:
    """Log an unexpected failure with its traceback; tell the client only that it happened."""
    log.error("Unhandled error on %s %s", req.method, req.path, exc_info=ex)
    _set_error(resp, falcon.HTTP_500, "internal_error", "The collector failed to handle this request")


class ServiceUnavailable(CollectorError):
    status = falcon.HTTP_503
    code = "unavailable"
