"""Property-based fuzzing of every endpoint from the collector's own OpenAPI description.

Schemathesis generates requests (valid and invalid) for each operation of
``/api/v1/openapi.json`` and sends them, with a read/write token, to the Falcon app as WSGI,
once on SQLite and once on PostgreSQL. Every answer must be below 500, carry a status the
description lists, and match the schema described for that status.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from collector.openapi import build_spec
from tests.conftest import Api, make_api
from tests.support.databases import database_url_for

EXAMPLES = 25  # per operation: bounded, so the whole fuzz stays within seconds
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fuzzed_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One app per database for the whole module, with a run, a case and a result to aim at."""
    folder: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with database_url_for(request.param, folder) as url:
        api = make_api(url, folder / "attachments")
        api.case("FUZZ-1")
        run_id = api.run("fuzz")
        api.post(
            f"/runs/{run_id}/results", json={"results": [{"test_case_code": "FUZZ-1", "status": "PASSED"}]}
        )
        yield api
        api.db.close_all()


def fuzzed_api_ids(api: Api) -> dict[str, str]:
    """Ids of the run, case and result the fixture made, by path parameter name."""
    run = api.get("/runs").json["data"][-1]
    result = api.get(f"/runs/{run['id']}/results").json["data"][0]
    return {"run_id": run["id"], "ref": "FUZZ-1", "result_id": result["id"]}


@pytest.fixture(scope="module")
def api_schema(fuzzed_api: Api) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzzed_api.client.app)


def _operations() -> list:
    """Every operation in both modes; negative only where there is something to make invalid."""
    found = []
    for path, item in build_spec()["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "patch", "delete"):
                continue
            negatable = "parameters" in item or "parameters" in operation or "requestBody" in operation
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if mode is GenerationMode.POSITIVE or negatable:
                    found.append(
                        pytest.param(method.upper(), path, mode, id=f"{method.upper()} {path} {mode}")
                    )
    return found


@pytest.mark.parametrize(("method", "path", "mode"), _operations())
def test_no_request_gets_a_5xx_or_an_undescribed_answer(
    api_schema: schemathesis.BaseSchema, fuzzed_api: Api, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {fuzzed_api.token}"}
    # Valid requests aim at things that exist half of the time, so that 2xx answers are checked
    # too; deletions keep generated ids so the fixtures survive.
    known = fuzzed_api_ids(fuzzed_api) if method != "DELETE" and mode is GenerationMode.POSITIVE else {}
    names = {p["name"] for p in build_spec()["paths"][path].get("parameters", [])}
    strategy = operation.as_strategy(mode)
    if names & known.keys():
        fixed = operation.as_strategy(mode, path_parameters={n: known[n] for n in names & known.keys()})
        strategy = strategy | fixed

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()
