"""Questions across runs: a case's history, a run against its base, flaky cases, a run's failure groups."""

from __future__ import annotations

import falcon

from collector import cases, flaky
from collector.compare import compare_run
from collector.failure_groups import failure_groups
from collector.history import case_history
from collector.resources.common import int_param, page_params, send_page, text_param
from collector.runs import get_run


class CaseResults:
    """``GET /cases/{ref}/results``: the case's results across runs, newest first."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, ref: str) -> None:
        limit, offset = page_params(req)
        case = cases.get_case(req.context.project, ref)
        page, total = case_history(case, limit, offset)
        send_page(resp, page, total, limit, offset)


class RunCompare:
    """``GET /runs/{id}/compare?base=&window=``: new failures, fixed, still failing, added, missing."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        base = text_param(req, "base", 64)
        window = int_param(req, "window", flaky.DEFAULT_WINDOW)
        resp.media = {"data": compare_run(req.context.project, run_id, base, window).as_dict()}


class FlakyCases:
    """``GET /flaky?branch=&environment=&window=``: the project's flaky cases, worst first."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, offset = page_params(req)
        scope = flaky.Scope(
            window=flaky.check_window(int_param(req, "window", flaky.DEFAULT_WINDOW)),
            branch=text_param(req, "branch"),
            environment=text_param(req, "environment", 200),
        )
        found, runs = flaky.flaky_cases(req.context.project, scope)
        send_page(resp, [v.as_dict() for v in found[offset : offset + limit]], len(found), limit, offset)
        resp.media["scope"] = {"runs": len(runs), "description": scope.describe()}


class RunFailureGroups:
    """``GET /runs/{id}/failure-groups``: the run's failures grouped by their masked message."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        run = get_run(req.context.project, run_id)
        resp.media = {"data": [group.as_dict() for group in failure_groups(run)]}
