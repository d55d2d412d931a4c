"""``/runs/{id}/results`` and ``/results/{id}``: list a run's results, bulk-upsert new ones, delete one."""

from __future__ import annotations

import falcon

from collector import attachments, responses, results
from collector.config import Settings
from collector.resources.common import read_json, send
from collector.runs import get_run
from collector.storage import Storage

#: JSON values a batch may hold per result it may carry (each result has a dozen fields).
VALUES_PER_RESULT = 64


class RunResults:
    def __init__(self, settings: Settings, db) -> None:
        self.settings = settings
        self.db = db

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        status = results.status_filter(req.get_param("status"))
        run = get_run(req.context.project, run_id)
        resp.content_type = falcon.MEDIA_JSON
        req.context.db_streaming = True  # the stream gives the connection back when done
        resp.stream = results.stream_json(results.iter_results(run, status), self.db.close)

    def on_post(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        # Each item has a dozen fields; unknown ones are ignored but parsed, so allow plenty.
        max_values = self.settings.max_batch * VALUES_PER_RESULT + VALUES_PER_RESULT
        body = read_json(req, self.settings.max_body_bytes, max_values)
        items = results.batch_items(body, self.settings.max_batch)
        outcome = results.upsert_results(req.context.project, run_id, items)
        # The items are the upsert's own dicts, already in shape: serialised, not validated again.
        answer = responses.Upserted.model_construct(data=outcome.accepted, errors=outcome.errors)
        send(resp, answer, falcon.HTTP_201 if not outcome.errors else falcon.HTTP_207)


class ResultItem:
    """``DELETE /results/{id}``: remove a result, its attachments and their files."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def on_delete(self, req: falcon.Request, resp: falcon.Response, result_id: str) -> None:
        attachments.delete_result(req.context.project, result_id, self.storage)
        resp.status = falcon.HTTP_204
