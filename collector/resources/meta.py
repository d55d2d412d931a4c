"""``/me``, ``/healthz`` and ``/openapi.json``."""

from __future__ import annotations

import logging

import falcon
import peewee

from collector.openapi import build_spec
from collector.storage import Storage, StorageError

log = logging.getLogger("collector")


class Me:
    auth = "any"

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        token, project = req.context.token, req.context.project
        resp.media = {
            "data": {
                "project": {"id": project.id, "key": project.key, "name": project.name},
                "scopes": sorted(token.scope_set),
                "token": {"prefix": token.prefix, "name": token.name},
            }
        }


class Health:
    auth = "none"

    def __init__(self, db: peewee.Database, storage: Storage) -> None:
        self.db = db
        self.storage = storage

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self.db.execute_sql("SELECT 1").fetchone()
        except peewee.DatabaseError as ex:
            resp.status = falcon.HTTP_503
            resp.media = {"status": "unavailable", "database": type(ex).__name__}
            return
        try:
            self.storage.check()
        except StorageError as ex:
            log.warning("Health check: %s", ex.message)  # the reason stays out of the open answer
            resp.status = falcon.HTTP_503
            resp.media = {"status": "unavailable", "database": "ok", "storage": "unavailable"}
            return
        resp.media = {"status": "ok", "database": "ok", "storage": "ok"}


class OpenApi:
    auth = "none"

    def __init__(self) -> None:
        self.spec = build_spec()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.spec
