"""Builds the Falcon app from its settings and database."""

from __future__ import annotations

import falcon
import orjson
import peewee

from collector import errors
from collector.config import Settings, load_settings
from collector.db import UNAVAILABLE
from collector.middleware import Authentication, DatabaseSession
from collector.migrations import open_upgraded
from collector.ratelimit import TokenBuckets, WriteRateLimit
from collector.resources.attachments import AttachmentItem, ResultAttachments
from collector.resources.cases import CaseCollection, CaseItem
from collector.resources.history import CaseResults, FlakyCases, RunCompare, RunFailureGroups
from collector.resources.meta import Health, Me, OpenApi
from collector.resources.results import ResultItem, RunResults
from collector.resources.runs import RunCollection, RunItem
from collector.storage import Storage, open_storage
from collector.web import add_web_routes

API = "/api/v1"


def _json_handler() -> falcon.media.JSONHandler:
    return falcon.media.JSONHandler(dumps=lambda o: orjson.dumps(o).decode(), loads=orjson.loads)


def create_app(settings: Settings, db: peewee.Database, storage: Storage | None = None) -> falcon.App:
    """Wire resources, middleware and error handlers around an open database and storage.

    ``storage`` defaults to the one the settings name (`collector.storage.open_storage`).
    """
    storage = storage or open_storage(settings)
    middleware: list[object] = [DatabaseSession(db), Authentication()]
    if settings.rate_limit_writes > 0:
        middleware.append(WriteRateLimit(TokenBuckets(settings.rate_limit_writes, settings.rate_limit_burst)))
    app = falcon.App(middleware=middleware)
    handler = _json_handler()
    app.req_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.req_options.strip_url_path_trailing_slash = True

    app.add_error_handler(Exception, errors.handle_unexpected)
    app.add_error_handler(falcon.HTTPError, errors.handle_http_error)
    app.add_error_handler(errors.CollectorError, errors.handle_collector_error)
    app.add_error_handler(UNAVAILABLE, errors.handle_database_busy)

    health = Health(db, storage)
    app.add_route(f"{API}/runs", RunCollection(settings))
    app.add_route(f"{API}/runs/{{run_id}}", RunItem(settings, storage))
    app.add_route(f"{API}/runs/{{run_id}}/results", RunResults(settings, db))
    app.add_route(f"{API}/results/{{result_id}}", ResultItem(storage))
    app.add_route(f"{API}/results/{{result_id}}/attachments", ResultAttachments(settings, storage))
    app.add_route(f"{API}/attachments/{{attachment_id}}", AttachmentItem(storage))
    app.add_route(f"{API}/cases", CaseCollection(settings))
    app.add_route(f"{API}/cases/{{ref}}", CaseItem(settings))
    app.add_route(f"{API}/cases/{{ref}}/results", CaseResults())
    app.add_route(f"{API}/runs/{{run_id}}/compare", RunCompare())
    app.add_route(f"{API}/runs/{{run_id}}/failure-groups", RunFailureGroups())
    app.add_route(f"{API}/flaky", FlakyCases())
    app.add_route(f"{API}/me", Me())
    app.add_route(f"{API}/openapi.json", OpenApi())
    app.add_route(f"{API}/healthz", health)
    app.add_route("/healthz", health)
    add_web_routes(app, settings, storage)
    return app


def get_app() -> falcon.App:
    """Build the app from the environment (for WSGI servers: ``collector.app:get_app()``)."""
    settings = load_settings()
    return create_app(settings, open_upgraded(settings))
