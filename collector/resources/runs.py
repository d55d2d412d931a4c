"""``/runs`` and ``/runs/{id}``: create, list, read, update and delete runs."""

from __future__ import annotations

import falcon

from collector import responses, runs
from collector.config import Settings
from collector.resources.common import page_params, parse_model, send
from collector.schemas import RunIn, RunPatch
from collector.storage import Storage


class RunCollection:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, offset = page_params(req)
        page, total = runs.list_runs(req.context.project, limit, offset)
        send(resp, responses.RunPage.of(page, total, limit, offset))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse_model(RunIn, req, self.settings.max_body_bytes)
        run = runs.create_run(req.context.project, body.name, tags=body.tags())
        resp.location = f"/api/v1/runs/{run.id}"
        send(resp, responses.RunData(data=run), falcon.HTTP_201)


class RunItem:
    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        send(resp, responses.RunData(data=runs.get_run(req.context.project, run_id)))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        body = parse_model(RunPatch, req, self.settings.max_body_bytes)
        run = runs.get_run(req.context.project, run_id)
        send(resp, responses.RunData(data=runs.update_run(run, body.name, body.status, body.tags())))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        runs.delete_run(req.context.project, run_id, self.storage)
        resp.status = falcon.HTTP_204
