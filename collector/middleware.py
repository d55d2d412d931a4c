"""Request middleware: a database connection per request, and token authentication."""

from __future__ import annotations

import falcon
import peewee

from collector import tokens
from collector.access_log import TOKEN_PREFIX_KEY
from collector.errors import NotFound, ServiceUnavailable


class DatabaseSession:
    """Take a pooled connection for each request and always give it back.

    A streamed response keeps the connection until its body has been sent; the stream
    closes it (see :func:`collector.results.stream_json`).
    """

    def __init__(self, db: peewee.Database) -> None:
        self.db = db

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.db_streaming = False
        try:
            self.db.connect(reuse_if_open=True)
        except peewee.OperationalError as ex:
            raise ServiceUnavailable(
                "The database is unavailable; try again shortly", headers={"Retry-After": "2"}
            ) from ex

    def process_response(self, req, resp, resource, req_succeeded: bool) -> None:
        if not req.context.get("db_streaming") and not self.db.is_closed():
            self.db.close()


class Authentication:
    """Resolve the bearer token and check the scope the method needs.

    Resources set ``auth = "none"`` (public), ``"any"`` (any valid token) or leave the default,
    where GET and HEAD need ``read`` and every other method ``write``.
    """

    def process_resource(self, req: falcon.Request, resp, resource, params) -> None:
        if any("\x00" in value for value in params.values() if isinstance(value, str)):
            # No id contains NUL, and PostgreSQL cannot even compare one: answer before any query.
            raise NotFound(f"No resource at {req.path!r}")
        mode = getattr(resource, "auth", "scoped")
        if resource is None or mode == "none":
            return
        token = tokens.authenticate(req.get_header("Authorization"))
        req.env[TOKEN_PREFIX_KEY] = token.prefix  # for the access log: the prefix, never the secret
        req.context.token = token
        req.context.project = token.project
        if mode == "scoped":
            tokens.require_scope(token, "read" if req.method in ("GET", "HEAD") else "write")
