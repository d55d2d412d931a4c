"""Domain exceptions: what went wrong, and the HTTP status and error code it is reported with.

Domain code raises :class:`CollectorError` subclasses; the app turns them into the API's one
error shape (``http_errors.py``), the embedded collector into the plugin's errors. Nothing
here imports the web framework: the embedded collector starts without it.
"""

from __future__ import annotations


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
