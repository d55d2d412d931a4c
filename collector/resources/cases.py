"""``/cases`` and ``/cases/{id-or-code}``: the project's test cases."""

from __future__ import annotations

import falcon

from collector import cases, responses
from collector.config import Settings
from collector.resources.common import page_params, parse_model, send
from collector.schemas import CaseIn, CasePatch


class CaseCollection:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, offset = page_params(req)
        page, total = cases.case_page(req.context.project, limit, offset)
        send(resp, responses.CasePage.of(page, total, limit, offset))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse_model(CaseIn, req, self.settings.max_body_bytes)
        case = cases.create_case(req.context.project, body.code, body.title)
        resp.location = f"/api/v1/cases/{case.id}"
        send(resp, responses.CaseData(data=case), falcon.HTTP_201)


class CaseItem:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_get(self, req: falcon.Request, resp: falcon.Response, ref: str) -> None:
        send(resp, responses.CaseData(data=cases.get_case(req.context.project, ref)))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, ref: str) -> None:
        body = parse_model(CasePatch, req, self.settings.max_body_bytes)
        case = cases.get_case(req.context.project, ref)
        send(resp, responses.CaseData(data=cases.update_case(case, body.code, body.title)))
