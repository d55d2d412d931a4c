"""``/cases`` and ``/cases/{id-or-code}``: the project's test cases."""

from __future__ import annotations

import falcon

from collector import cases
from collector.config import Settings
from collector.resources.common import page_params, parse_model, send_page
from collector.schemas import CaseIn, CasePatch


class CaseCollection:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, offset = page_params(req)
        page, total = cases.case_page(req.context.project, limit, offset)
        send_page(resp, page, total, limit, offset)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse_model(CaseIn, req, self.settings.max_body_bytes)
        case = cases.create_case(req.context.project, body.code, body.title)
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/cases/{case.id}"
        resp.media = {"data": cases.case_dict(case)}


class CaseItem:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_get(self, req: falcon.Request, resp: falcon.Response, ref: str) -> None:
        resp.media = {"data": cases.case_dict(cases.get_case(req.context.project, ref))}

    def on_patch(self, req: falcon.Request, resp: falcon.Response, ref: str) -> None:
        body = parse_model(CasePatch, req, self.settings.max_body_bytes)
        case = cases.get_case(req.context.project, ref)
        resp.media = {"data": cases.case_dict(cases.update_case(case, body.code, body.title))}
