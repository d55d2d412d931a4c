"""The OpenAPI description: valid, and every JSON body in it is a model's schema."""

from __future__ import annotations

import datetime as dt

from openapi_spec_validator import validate

from collector import responses
from collector.openapi import build_spec


def test_the_description_is_valid_openapi_3_1() -> None:
    validate(build_spec())


def test_every_json_body_refers_to_a_model_schema_in_the_components() -> None:
    spec = build_spec()
    components = spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            bodies = [op.get("requestBody", {}), *op["responses"].values()]
            for body in bodies:
                schema = body.get("content", {}).get("application/json", {}).get("schema")
                if schema is None:
                    continue
                refs = [s["$ref"] for s in schema.get("anyOf", [schema])]
                names = [ref.removeprefix("#/components/schemas/") for ref in refs]
                assert all(name in components for name in names), (path, method, refs)


def test_timestamps_go_out_in_utc_with_milliseconds_and_a_z() -> None:
    naive = dt.datetime(2026, 5, 13, 12, 0, 0, 123456)
    assert responses.iso(naive) == "2026-05-13T12:00:00.123Z"
    aware = dt.datetime(2026, 5, 13, 14, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert responses.iso(aware) == "2026-05-13T12:00:00.000Z"
    case = responses.Case(id="c", code="TC-1", title="", created_at=naive, updated_at="2026-05-13 12:00:00")
    assert case.model_dump(mode="json")["updated_at"] == "2026-05-13T12:00:00.000Z"
