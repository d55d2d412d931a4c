"""Questions across runs: a case's history, a run against its base, flaky cases, a run's failure groups."""

from __future__ import annotations

import falcon

from collector import cases, flaky, responses
from collector.compare import compare_run
from collector.failure_groups import failure_groups
from collector.history import case_history
from collector.resources.common import int_param, page_params, send, text_param
from collector.runs import get_run


class CaseResults:
    """``GET /cases/{ref}/results``: the case's results across runs, newest first."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, ref: str) -> None:
        limit, offset = page_params(req)
        case = cases.get_case(req.context.project, ref)
        page, total = case_history(case, limit, offset)
        send(resp, responses.HistoryPage.of(page, total, limit, offset))


class RunCompare:
    """``GET /runs/{id}/compare?base=&window=``: new failures, fixed, still failing, added, missing."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        base = text_param(req, "base", 64)
        window = int_param(req, "window", flaky.DEFAULT_WINDOW)
        comparison = compare_run(req.context.project, run_id, base, window)
        send(resp, responses.ComparisonData(data=comparison.as_response()))


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
        page = [v.as_response() for v in found[offset : offset + limit]]
        about = responses.FlakyScope(runs=len(runs), description=scope.describe())
        send(resp, responses.FlakyPage.of(page, len(found), limit, offset, scope=about))


class RunFailureGroups:
    """``GET /runs/{id}/failure-groups``: the run's failures grouped by their masked message."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, run_id: str) -> None:
        run = get_run(req.context.project, run_id)
        send(resp, responses.FailureGroupList(data=[group.as_response() for group in failure_groups(run)]))
