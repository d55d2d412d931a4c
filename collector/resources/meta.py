"""``/me``, ``/healthz`` and ``/openapi.json``."""

from __future__ import annotations

import logging

import falcon
import peewee

from collector import responses
from collector.openapi import build_spec
from collector.resources.common import send
from collector.storage import Storage

log = logging.getLogger("collector.health")


class Me:
    auth = "any"

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        token, project = req.context.token, req.context.project
        me = responses.Me(project=project, scopes=sorted(token.scope_set), token=token)
        send(resp, responses.MeData(data=me))


class Health:
    """The process's health: 503 without a database (nothing works), "degraded" without storage.

    Results need only the database, so a process whose attachment storage fails stays in a load
    balancer's rotation (200) and says what is wrong in the body; uploads meanwhile get 503.
    """

    auth = "none"

    def __init__(self, db: peewee.Database, storage: Storage) -> None:
        self.db = db
        self.storage = storage

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self.db.execute_sql("SELECT 1").fetchone()
            database = "ok"
        except peewee.DatabaseError as ex:
            database = type(ex).__name__
        try:
            self.storage.check()
            storage = "ok"
        except Exception as ex:  # any backend's failure is a state to report, not an error
            log.warning("Health check: the attachment storage is unavailable: %s", ex)
            storage = "unavailable"
        if database != "ok":
            answer = responses.Health(status="unavailable", database=database, storage=storage)
            send(resp, answer, falcon.HTTP_503)
            return
        status = "ok" if storage == "ok" else "degraded"
        send(resp, responses.Health(status=status, database=database, storage=storage))


class OpenApi:
    auth = "none"

    def __init__(self) -> None:
        self.spec = build_spec()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.spec
