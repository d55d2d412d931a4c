"""The OpenAPI 3.1 description: every schema from the pydantic models, the operations declared below.

Request bodies are the models of `collector.schemas` that validate them; answers are the models
of `collector.responses` that serialise them. All of them become ``components.schemas`` in one
`models_json_schema` call, so the description says what the API reads and writes. Operations
name those models; `build_spec` puts each one's ``$ref`` in its place.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from collector import __version__, flaky
from collector import responses as r
from collector.resources.common import MAX_OFFSET
from collector.schemas import CaseIn, CasePatch, ResultsIn, ResultStatus, RunIn, RunPatch

_REF = "#/components/schemas/{model}"
REQUESTS: tuple[type[BaseModel], ...] = (ResultsIn, RunIn, RunPatch, CaseIn, CasePatch)
ANSWERS: tuple[type[BaseModel], ...] = (
    r.Error, r.Health, r.MeData, r.RunData, r.RunPage, r.CaseData, r.CasePage, r.ResultList, r.Upserted,
    r.AttachmentList, r.HistoryPage, r.ComparisonData, r.FlakyPage, r.FailureGroupList,
)  # fmt: skip

_ERRORS = {
    400: "The request is invalid",
    401: "No valid token",
    403: "The token lacks the scope",
    404: "Not found (or another project's)",
    409: "In conflict with what is stored",
    413: "Too large",
    415: "Not a type this operation takes",
    429: "Too many writes with this token; retry after Retry-After seconds",
    503: "The database or the attachment storage is unavailable; retry after Retry-After seconds",
}
#: What every write of a body may answer besides its own errors: invalid, too large, not its type.
_WRITE = (400, 413, 415)
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}

_PAGE = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 500},
    "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
}
_WINDOW = {"type": "integer", "minimum": 2, "maximum": flaky.MAX_WINDOW, "default": flaky.DEFAULT_WINDOW}
_COMPARE_QUERY = {"base": {"type": "string", "maxLength": 64}, "window": _WINDOW}
_FLAKY_QUERY = {
    "branch": {"type": "string", "maxLength": 255},
    "environment": {"type": "string", "maxLength": 200},
    "window": _WINDOW,
    **_PAGE,
}
_UPLOAD = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}},
            "required": ["file"],
        }
    }
}
_DOWNLOADED = {
    "200": {
        "description": "The file's bytes, with the MIME type detected at upload",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
    "307": {
        "description": "With QAHUB_STORAGE_PRESIGN=1: the Location is a short-lived URL of the object "
        "store that serves the file with the same type and disposition"
    },
}


class _Components(GenerateJsonSchema):
    """Pydantic's JSON schema without a title on every property: its name says as much."""

    def field_title_should_be_set(self, schema) -> bool:
        return False


def _json(schema: object) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _error(code: int) -> dict:
    headers = {"headers": _RETRY_AFTER} if code in (429, 503) else {}
    return {"description": _ERRORS[code], **headers, **_json(r.Error)}


def _op(
    summary: str,
    answer: type[BaseModel] | None,
    *errors: int,
    status: int = 200,
    body: type[BaseModel] | dict | None = None,
    query: dict[str, object] | None = None,
    **extra: object,
) -> dict:
    """Declare an operation: its answer, the errors it may end in beyond 401/403/503, its inputs.

    ``body`` is a request model (JSON) or the ``content`` of another media type.
    """
    ok = {"description": "OK", **_json(answer)} if answer else {"description": "Done"}
    op: dict = {"summary": summary, "responses": {str(status): ok}}
    op["responses"].update({str(code): _error(code) for code in sorted({401, 403, *errors, 503})})
    if body is not None:
        op["requestBody"] = {
            "required": True,
            **({"content": body} if isinstance(body, dict) else _json(body)),
        }
    if query:
        op["parameters"] = [{"name": name, "in": "query", "schema": s} for name, s in query.items()]
    return {**op, **extra}


def _operations() -> dict:
    """Every path under ``/api/v1`` and its operations, naming models where schemas go."""
    upsert = _op("Bulk-upsert results into a run", r.Upserted, *_WRITE, 404, 409, status=201, body=ResultsIn)
    upsert["responses"]["207"] = {"description": "Some items rejected (see errors)", **_json(r.Upserted)}
    download = _op(
        "Download an attachment",
        None,
        404,
        description="Sent as Content-Disposition: attachment, with X-Content-Type-Options: nosniff "
        "and a sandboxing Content-Security-Policy.",
    )
    download["responses"].update(_DOWNLOADED)
    return {
        "/runs": {
            "get": _op("List runs, newest first", r.RunPage, 400, query=_PAGE),
            "post": _op("Create a run", r.RunData, *_WRITE, status=201, body=RunIn),
        },
        "/runs/{run_id}": {
            "get": _op("Get a run", r.RunData, 404),
            "patch": _op("Rename a run or change its status", r.RunData, *_WRITE, 404, body=RunPatch),
            "delete": _op(
                "Delete a run with its results, attachments and their files", None, 404, status=204
            ),
        },
        "/runs/{run_id}/results": {
            "get": _op("List results for a run", r.ResultList, 400, 404, query={"status": ResultStatus}),
            "post": upsert,
        },
        "/results/{result_id}": {
            "delete": _op("Delete a result with its attachments and their files", None, 404, status=204),
        },
        "/results/{result_id}/attachments": {
            "get": _op("List a result's attachments", r.AttachmentList, 404),
            "post": _op(
                "Upload attachments for a result", r.AttachmentList, *_WRITE, 404, status=201, body=_UPLOAD
            ),
        },
        "/attachments/{attachment_id}": {"get": download},
        "/cases": {
            "get": _op("List test cases by code", r.CasePage, 400, query=_PAGE),
            "post": _op("Create a test case", r.CaseData, *_WRITE, 409, status=201, body=CaseIn),
        },
        "/cases/{ref}": {
            "get": _op("Get a test case by id or code", r.CaseData, 404),
            "patch": _op("Change a test case", r.CaseData, *_WRITE, 404, 409, body=CasePatch),
        },
        "/cases/{ref}/results": {
            "get": _op(
                "A test case's results across runs, newest first", r.HistoryPage, 400, 404, query=_PAGE
            ),
        },
        "/runs/{run_id}/compare": {
            "get": _op(
                "Compare a run with a base run: new failures, fixed, still failing, added, missing, flaky",
                r.ComparisonData,
                400,
                404,
                query=_COMPARE_QUERY,
                description="Without base, the base is the most recent earlier run of the project on the "
                "same branch and environment that has results (base_chosen says which rule chose it).",
            ),
        },
        "/runs/{run_id}/failure-groups": {
            "get": _op("A run's failures grouped by their masked error message", r.FailureGroupList, 404),
        },
        "/flaky": {
            "get": _op("The project's flaky test cases, worst first", r.FlakyPage, 400, query=_FLAKY_QUERY),
        },
        "/me": {"get": _op("The token's project and scopes", r.MeData)},
        "/healthz": {
            "get": {
                "summary": "Liveness, database and storage check",
                "security": [],
                "responses": {
                    "200": {"description": "OK, or 'degraded' when the storage fails", **_json(r.Health)},
                    "503": {"description": "Database unavailable", **_json({"anyOf": [r.Health, r.Error]})},
                },
            }
        },
    }


def _resolve(node: object, refs: dict) -> object:
    """Copy ``node`` with each model in it replaced by its ``$ref`` and each other type by its schema."""
    if isinstance(node, dict):
        return {key: _resolve(value, refs) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(value, refs) for value in node]
    if isinstance(node, str | int | float | bool | None):
        return node
    return refs[node] if node in refs else TypeAdapter(node).json_schema()


def build_spec() -> dict:
    """Return the OpenAPI document for every endpoint under ``/api/v1``."""
    models = [(m, "validation") for m in REQUESTS] + [(m, "serialization") for m in ANSWERS]
    refs, schemas = models_json_schema(models, ref_template=_REF, schema_generator=_Components)
    by_model = {model: ref for (model, _), ref in refs.items()}
    paths = {}
    for path, operations in _operations().items():
        for method, op in operations.items():
            if method != "get":
                op["responses"]["429"] = _error(429)
        names = re.findall(r"\{(\w+)\}", path)
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
        paths[f"/api/v1{path}"] = _resolve(
            {"parameters": params, **operations} if params else operations, by_model
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": "QAHub collector", "version": __version__},
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
