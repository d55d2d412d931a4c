"""The API's one error shape, for every error a request can end in (Falcon's error handlers).

Every error body is ``{"error": {"status": 404, "code": "not_found", "message": "..."}}``.
"""

from __future__ import annotations

import logging

import falcon

from collector.errors import CollectorError

log = logging.getLogger("collector")
DATABASE_RETRY_AFTER_S = 2

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


def _set_error(resp: falcon.Response, status: int | str, code: str, message: str) -> None:
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


def handle_database_busy(req, resp, ex: Exception, params) -> None:
    """A database that is locked, overloaded or gone answers 503 with ``Retry-After``, never 500."""
    log.warning("Database unavailable on %s %s: %s", req.method, req.path, ex)
    _set_error(resp, falcon.HTTP_503, "unavailable", "The database is busy or unavailable; try again shortly")
    resp.set_header("Retry-After", str(DATABASE_RETRY_AFTER_S))


def handle_unexpected(req, resp, ex: Exception, params) -> None:
    """Log an unexpected failure with its traceback; tell the client only that it happened."""
    log.error("Unhandled error on %s %s", req.method, req.path, exc_info=ex)
    _set_error(resp, falcon.HTTP_500, "internal_error", "The collector failed to handle this request")
