"""The OpenAPI 3 description, generated from the pydantic models that validate requests."""

from __future__ import annotations

from pydantic import BaseModel

from collector import __version__
from collector.schemas import CaseIn, CasePatch, ResultsIn, RunIn, RunPatch

_REF = "#/components/schemas/{model}"

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
            },
        }
    },
}
_STAMP = {"type": ["string", "null"], "format": "date-time"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_RUN = {
    "type": "object",
    "required": ["id", "name", "status", "created_at", "updated_at", "completed_at"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "status": {"enum": ["PENDING", "IN_PROGRESS", "COMPLETED"]},
        "created_at": _STAMP,
        "updated_at": _STAMP,
        "completed_at": _STAMP,
        "environment": _TEXT_OR_NULL,
        "branch": _TEXT_OR_NULL,
        "commit": _TEXT_OR_NULL,
        "build_url": _TEXT_OR_NULL,
    },
}
_CASE = {
    "type": "object",
    "required": ["id", "code", "title"],
    "properties": {
        "id": {"type": "string"},
        "code": {"type": "string"},
        "title": {"type": "string"},
        "created_at": _STAMP,
        "updated_at": _STAMP,
    },
}
_NULLABLE_STR = {"type": ["string", "null"]}
_RESULT = {
    "type": "object",
    "required": ["id", "test_case_id", "test_case_code", "status"],
    "properties": {
        "id": {"type": "string"},
        "test_case_id": {"type": "string"},
        "test_case_code": {"type": "string"},
        "status": {"enum": ["PASSED", "FAILED", "BROKEN", "SKIPPED", "UNKNOWN"]},
        "comment": _NULLABLE_STR,
        "bug_ticket_key": _NULLABLE_STR,
        "bug_ticket_url": _NULLABLE_STR,
        "duration_ms": {"type": ["integer", "null"]},
        "framework": _NULLABLE_STR,
        "error_message": _NULLABLE_STR,
        "error_stack": _NULLABLE_STR,
        "executed_at": _STAMP,
        "created_at": _STAMP,
        "updated_at": _STAMP,
    },
}
_ATTACHMENT = {
    "type": "object",
    "required": ["id", "fileName", "mimeType", "size", "createdAt"],
    "properties": {
        "id": {"type": "string"},
        "fileName": {"type": "string"},
        "mimeType": {"type": "string"},
        "size": {"type": "integer"},
        "createdAt": {"type": "string", "format": "date-time"},
    },
}
_CODES = {"type": "array", "items": {"type": "string"}}
_RUN_REF = {
    "type": "object",
    "required": ["id", "name", "branch", "commit", "environment"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "branch": _TEXT_OR_NULL,
        "commit": _TEXT_OR_NULL,
        "environment": _TEXT_OR_NULL,
    },
}
_HISTORY_RESULT = {
    "allOf": [{"$ref": "#/components/schemas/Result"}],
    "type": "object",
    "required": ["run"],
    "properties": {"run": _RUN_REF},
}
_COMPARISON = {
    "type": "object",
    "required": [
        "run",
        "base",
        "base_chosen",
        "new_failures",
        "fixed",
        "still_failing",
        "added",
        "missing",
        "flaky",
        "blocking",
        "flaky_evidence",
        "flaky_scope",
    ],
    "properties": {
        "run": {"$ref": "#/components/schemas/Run"},
        "base": {"oneOf": [{"$ref": "#/components/schemas/Run"}, {"type": "null"}]},
        "base_chosen": {"type": "string"},
        "new_failures": _CODES,
        "fixed": _CODES,
        "still_failing": _CODES,
        "added": _CODES,
        "missing": _CODES,
        "flaky": _CODES,
        "blocking": _CODES,
        "flaky_evidence": {"type": "object", "additionalProperties": _CODES},
        "flaky_scope": {"type": "string"},
    },
}
_COUNT = {"type": "integer", "minimum": 0}
_FLAKY_CASE = {
    "type": "object",
    "required": [
        "test_case_id",
        "test_case_code",
        "score",
        "passed",
        "failed",
        "last_status",
        "evidence",
        "reasons",
    ],
    "properties": {
        "test_case_id": {"type": "string"},
        "test_case_code": {"type": "string"},
        "score": _COUNT,
        "passed": _COUNT,
        "failed": _COUNT,
        "last_status": {"enum": ["passing", "failing"]},
        "evidence": {
            "type": "object",
            "required": ["flips", "same_commit", "passed_on_rerun"],
            "properties": {
                "flips": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["branch", "environment", "flips", "runs"],
                        "properties": {
                            "branch": _TEXT_OR_NULL,
                            "environment": _TEXT_OR_NULL,
                            "flips": _COUNT,
                            "runs": _COUNT,
                        },
                    },
                },
                "same_commit": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["commit", "environment", "passed", "failed"],
                        "properties": {
                            "commit": {"type": "string"},
                            "environment": _TEXT_OR_NULL,
                            "passed": _COUNT,
                            "failed": _COUNT,
                        },
                    },
                },
                "passed_on_rerun": _COUNT,
            },
        },
        "reasons": _CODES,
    },
}
_FAILURE_GROUP = {
    "type": "object",
    "required": ["pattern", "count", "codes", "statuses", "example"],
    "properties": {
        "pattern": _TEXT_OR_NULL,
        "count": _COUNT,
        "codes": _CODES,
        "statuses": {"type": "object", "additionalProperties": _COUNT},
        "example": _TEXT_OR_NULL,
    },
}
_WINDOW = {"type": "integer", "minimum": 2, "maximum": 200, "default": 20}
_PAGINATION = {
    "type": "object",
    "required": ["total", "limit", "offset"],
    "properties": {k: {"type": "integer"} for k in ("total", "limit", "offset")},
}


def _ref(name: str) -> dict:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _data(schema: dict, many: bool = False, paged: bool = False) -> dict:
    props = {"data": {"type": "array", "items": schema} if many else schema}
    if paged:
        props["pagination"] = _PAGINATION
    return {"type": "object", "required": list(props), "properties": props}


#: Writes answer 429 when the collector's per-token write rate limit is on.
_RATE_LIMITED = {
    "429": {
        "description": "Too many writes with this token; retry after Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
        **_json({"$ref": "#/components/schemas/Error"}),
    }
}


#: Any operation answers 503 while the database is busy or unreachable (or, for uploads, the storage).
_UNAVAILABLE = {
    "503": {
        "description": "The database or the attachment storage is unavailable; retry after Retry-After",
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
        **_json({"$ref": "#/components/schemas/Error"}),
    }
}


def _errors(*codes: int) -> dict:
    errors = {str(c): {"description": "Error", **_json(_ref("Error"))} for c in (401, 403, *codes)}
    return {**errors, **_UNAVAILABLE}


def _op(summary: str, ok: str, ok_schema: dict, *errors: int, body: str | None = None, **extra) -> dict:
    op = {
        "summary": summary,
        "responses": {ok: {"description": "OK", **_json(ok_schema)}, **_errors(*errors)},
    }
    if body:
        op["requestBody"] = {"required": True, **_json(_ref(body))}
    op.update(extra)
    if "requestBody" in op:
        op["responses"].update(_RATE_LIMITED)
    return op


def _deleted(summary: str) -> dict:
    responses = {"204": {"description": "Deleted"}, **_errors(404), **_RATE_LIMITED}
    return {"summary": summary, "responses": responses}


_PAGE_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}},
]


def _path_param(name: str) -> list[dict]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]


def build_spec() -> dict:
    """Return the OpenAPI document for every endpoint under ``/api/v1``."""
    models: list[type[BaseModel]] = [ResultsIn, RunIn, RunPatch, CaseIn, CasePatch]
    schemas: dict = {
        "Error": _ERROR,
        "Run": _RUN,
        "Case": _CASE,
        "Result": _RESULT,
        "Attachment": _ATTACHMENT,
    }
    for model in models:
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    upsert = {
        "type": "object",
        "required": ["data", "errors"],
        "properties": {
            "data": {"type": "array", "items": _ref("Result")},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "message"],
                    "properties": {
                        "index": {"type": "integer"},
                        "message": {"type": "string"},
                        "test_case_code": {"type": "string"},
                        "test_case_id": {"type": "string"},
                    },
                },
            },
        },
    }
    upsert_op = _op(
        "Bulk-upsert results into a run", "201", upsert, 400, 404, 409, 413, 415, body="ResultsIn"
    )
    upsert_op["responses"]["207"] = {"description": "Some items rejected", **_json(upsert)}
    multipart = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["file"],
                }
            }
        },
    }
    paths = {
        "/api/v1/runs": {
            "get": _op(
                "List runs, newest first",
                "200",
                _data(_ref("Run"), True, True),
                400,
                parameters=_PAGE_PARAMS,
            ),
            "post": _op("Create a run", "201", _data(_ref("Run")), 400, 413, 415, body="RunIn"),
        },
        "/api/v1/runs/{run_id}": {
            "parameters": _path_param("run_id"),
            "get": _op("Get a run", "200", _data(_ref("Run")), 404),
            "patch": _op(
                "Rename a run or change its status",
                "200",
                _data(_ref("Run")),
                400,
                404,
                413,
                415,
                body="RunPatch",
            ),
            "delete": _deleted("Delete a run with its results, attachments and their files"),
        },
        "/api/v1/runs/{run_id}/results": {
            "parameters": _path_param("run_id"),
            "get": _op(
                "List results for a run",
                "200",
                _data(_ref("Result"), True),
                400,
                404,
                parameters=[{"name": "status", "in": "query", "schema": _RESULT["properties"]["status"]}],
            ),
            "post": upsert_op,
        },
        "/api/v1/results/{result_id}": {
            "parameters": _path_param("result_id"),
            "delete": _deleted("Delete a result with its attachments and their files"),
        },
        "/api/v1/results/{result_id}/attachments": {
            "parameters": _path_param("result_id"),
            "get": _op("List a result's attachments", "200", _data(_ref("Attachment"), True), 404),
            "post": _op(
                "Upload attachments for a result",
                "201",
                _data(_ref("Attachment"), True),
                400,
                404,
                413,
                415,
                503,
                requestBody=multipart,
            ),
        },
        "/api/v1/attachments/{attachment_id}": {
            "parameters": _path_param("attachment_id"),
            "get": {
                "summary": "Download an attachment",
                "description": "Sent as Content-Disposition: attachment, with X-Content-Type-Options: "
                "nosniff and a sandboxing Content-Security-Policy.",
                "responses": {
                    "200": {
                        "description": "The file's bytes, with the MIME type detected at upload",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "307": {
                        "description": "With QAHUB_STORAGE_PRESIGN=1: the Location is a short-lived "
                        "URL of the object store that serves the file with the same type and disposition"
                    },
                    **_errors(404, 503),
                },
            },
        },
        "/api/v1/cases": {
            "get": _op(
                "List test cases by code",
                "200",
                _data(_ref("Case"), True, True),
                400,
                parameters=_PAGE_PARAMS,
            ),
            "post": _op("Create a test case", "201", _data(_ref("Case")), 400, 409, 413, 415, body="CaseIn"),
        },
        "/api/v1/cases/{ref}": {
            "parameters": _path_param("ref"),
            "get": _op("Get a test case by id or code", "200", _data(_ref("Case")), 404),
            "patch": _op(
                "Change a test case",
                "200",
                _data(_ref("Case")),
                400,
                404,
                409,
                413,
                415,
                body="CasePatch",
            ),
        },
        "/api/v1/cases/{ref}/results": {
            "parameters": _path_param("ref"),
            "get": _op(
                "A test case's results across runs, newest first (by executed_at), each with its run",
                "200",
                _data(_HISTORY_RESULT, True, True),
                400,
                404,
                parameters=_PAGE_PARAMS,
            ),
        },
        "/api/v1/runs/{run_id}/compare": {
            "parameters": _path_param("run_id"),
            "get": _op(
                "Compare a run with a base run: new failures, fixed, still failing, added, missing, flaky",
                "200",
                _data(_COMPARISON),
                400,
                404,
                description="Without base, the base is the most recent earlier run of the project on the "
                "same branch and environment that has results (base_chosen says which rule chose it).",
                parameters=[
                    {"name": "base", "in": "query", "schema": {"type": "string", "maxLength": 64}},
                    {"name": "window", "in": "query", "schema": _WINDOW},
                ],
            ),
        },
        "/api/v1/runs/{run_id}/failure-groups": {
            "parameters": _path_param("run_id"),
            "get": _op(
                "A run's failures grouped by their error message with numbers, ids and quoted values masked",
                "200",
                _data(_FAILURE_GROUP, True),
                404,
            ),
        },
        "/api/v1/flaky": {
            "get": _op(
                "The project's flaky test cases in its last runs, with their evidence, worst first",
                "200",
                {
                    **_data(_FLAKY_CASE, True, True),
                    "required": ["data", "pagination", "scope"],
                    "properties": {
                        **_data(_FLAKY_CASE, True, True)["properties"],
                        "scope": {
                            "type": "object",
                            "required": ["runs", "description"],
                            "properties": {"runs": _COUNT, "description": {"type": "string"}},
                        },
                    },
                },
                400,
                parameters=[
                    {"name": "branch", "in": "query", "schema": {"type": "string", "maxLength": 255}},
                    {"name": "environment", "in": "query", "schema": {"type": "string", "maxLength": 200}},
                    {"name": "window", "in": "query", "schema": _WINDOW},
                    *_PAGE_PARAMS,
                ],
            ),
        },
        "/api/v1/me": {"get": _op("The token's project and scopes", "200", {"type": "object"})},
        "/api/v1/healthz": {
            "get": {
                "summary": "Liveness, database and storage check",
                "security": [],
                "responses": {
                    "200": {"description": "OK; status is 'degraded' when the attachment storage fails"},
                    "503": {"description": "Database unavailable"},
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "QAHub collector", "version": __version__},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
