"""The package's exception hierarchy (one base, `QAHubError`).

It imports nothing heavy: the delivery process uses it without loading pytest.
"""

from __future__ import annotations


class QAHubError(Exception):
    """Base class of every error raised by pytest-qahub."""


class ConnectionFailed(QAHubError):
    """The collector could not be reached (refused, DNS, timeout), even after retries."""


class ProtocolError(QAHubError):
    """The collector answered something that is not the API's JSON."""


class ResponseError(QAHubError):
    """The collector answered with an HTTP error status.

    Attributes:
        status: The HTTP status code.
        code: The API's error code (``not_found``...), or None.
        message: The API's error message, or the response text.
    """

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ServerError(ResponseError):
    """A 5xx or 429 that outlasted the retries: worth trying again later."""


class ClientError(ResponseError):
    """A 4xx: sending the same request again will not help."""


class AuthError(ClientError):
    """401 or 403: the token is missing, invalid, revoked or lacks the scope."""


class NotFound(ClientError):
    """404: the run, case or result does not exist (or belongs to another project)."""


class Conflict(ClientError):
    """409: a duplicate case code, or a run that is already COMPLETED."""


class PayloadTooLarge(ClientError):
    """413: too many results in one request, or a body over the byte limit."""


class SetupError(QAHubError):
    """A setting makes delivery impossible: not a collector's URL, a token refused or without
    the scopes needed, a run that does not exist or is COMPLETED. The message says which."""


_BY_STATUS: dict[int, type[ResponseError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
}


def error_for_status(status: int, code: str | None, message: str) -> ResponseError:
    """The error for an answer with HTTP status ``status`` (over HTTP, or from the embedded
    collector, whose errors carry the status the API would answer with)."""
    if status == 429 or status >= 500:
        return ServerError(status, code, message)
    return _BY_STATUS.get(status, ClientError)(status, code, message)


#: Errors after which the same request may succeed later.
TRANSIENT_ERRORS: tuple[type[QAHubError], ...] = (ConnectionFailed, ServerError, ProtocolError)
