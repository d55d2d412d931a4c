"""Hostile input on every endpoint: bad tokens, oversized and deep bodies, huge strings,
invalid UTF-8 and wrong content types — never a 2xx where it must not be, never a 5xx.

The single-endpoint cases live in tests/collector (test_auth.py, test_results.py); these
sweep every operation of the OpenAPI description, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import falcon.testing
import pytest

from collector import tokens
from collector.openapi import build_spec
from collector.projects import create_project
from tests.conftest import Api, make_api
from tests.support.databases import database_url_for

JSON = {"Content-Type": "application/json"}
SAMPLE_TEXT = b"a log line\n"


@dataclass
class World:
    """A project with one of everything, and a token of another project."""

    api: Api
    ids: dict[str, str]
    stranger: str


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One app per database for the module (the sweeps change nothing), with one of everything."""
    folder = tmp_path_factory.mktemp(f"hostile-{request.param}")
    with database_url_for(request.param, folder) as url:
        api = make_api(url, folder / "attachments")
        api.case("HOST-1")
        run_id = api.run("hostile")
        result = api.post(
            f"/runs/{run_id}/results", json={"results": [{"test_case_code": "HOST-1", "status": "FAILED"}]}
        ).json["data"][0]
        upload = api.post(
            f"/results/{result['id']}/attachments",
            body=multipart(SAMPLE_TEXT),
            headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
        )
        assert upload.status_code == 201, upload.text
        with api.db.connection_context():
            other = create_project("other")
        ids = {
            "run_id": run_id,
            "ref": "HOST-1",
            "result_id": result["id"],
            "attachment_id": upload.json["data"][0]["id"],
        }
        yield World(api, ids, api.token_for(project=other))
        api.db.close_all()


def multipart(content: bytes, name: str = "log.txt") -> bytes:
    return (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="' + name.encode() + b'"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + content + b"\r\n--XyZ--\r\n"
    )


#: A body each write operation would accept, so that only the token decides the answer.
VALID_BODIES = {
    ("POST", "/api/v1/runs"): b'{"name": "n"}',
    ("PATCH", "/api/v1/runs/{run_id}"): b'{"name": "renamed"}',
    (
        "POST",
        "/api/v1/runs/{run_id}/results",
    ): b'{"results": [{"test_case_code": "HOST-1", "status": "PASSED"}]}',
    ("POST", "/api/v1/cases"): b'{"code": "HOST-NEW", "title": "t"}',
    ("PATCH", "/api/v1/cases/{ref}"): b'{"title": "retitled"}',
}
JSON_WRITES = sorted(VALID_BODIES)


def operations(*, public: bool = False) -> list[tuple[str, str]]:
    """Every (METHOD, path template) of the description; the public ones only when asked."""
    found = []
    for path, item in build_spec()["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "patch", "delete") and (operation.get("security") != [] or public):
                found.append((method.upper(), path))
    return found


AUTHENTICATED = operations()


def call(world: World, method: str, template: str, token: str | None, **kw) -> falcon.testing.Result:
    path = template.format(**world.ids)
    headers = dict(kw.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = (
            token if token.startswith(("Bearer", "Basic", "bearer")) else f"Bearer {token}"
        )
    if "body" not in kw and method in ("POST", "PATCH"):
        if template.endswith("/attachments"):
            kw["body"] = multipart(SAMPLE_TEXT)
            headers.setdefault("Content-Type", "multipart/form-data; boundary=XyZ")
        else:
            kw["body"] = VALID_BODIES[(method, template)]
            headers.setdefault("Content-Type", "application/json")
    return world.api.client.simulate_request(method, path, headers=headers, **kw)


def assert_refused(response: falcon.testing.Result, status: int, what: object = None) -> None:
    assert response.status_code == status, (what, response.status_code, response.text[:200])
    assert set(response.json["error"]) == {"status", "code", "message"}


BAD_TOKENS = [
    None,
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "Bearer qh_",
    "Bearer qh_ABCDEFGH_" + "x" * 43,  # the prefix is lower case
    "Bearer qh_abcdefgh_" + "x" * 129,  # a secret longer than any issued
    "Bearer qh_abcdefgh_" + "x" * 43 + "\u00e9",
    "Bearer " + "q" * 20_000,
]


def test_missing_malformed_revoked_and_unknown_tokens_are_401_everywhere(world: World) -> None:
    revoked = world.api.token_for()
    with world.api.db.connection_context():
        tokens.revoke(revoked.split("_")[1])
    prefix = world.api.token.split("_")[1]
    for method, template in AUTHENTICATED:
        for token in [*BAD_TOKENS, revoked, f"qh_{prefix}_{'A' * 43}"]:
            response = call(world, method, template, token)
            assert_refused(response, 401, (method, template, token and token[:40]))
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_without_the_scope_is_403_everywhere(world: World) -> None:
    reader, writer = world.api.token_for("read"), world.api.token_for("write")
    for method, template in AUTHENTICATED:
        if template != "/api/v1/me":  # /me answers any valid token
            assert_refused(
                call(world, method, template, writer if method == "GET" else reader), 403, template
            )


def test_another_projects_token_finds_nothing_everywhere(world: World) -> None:
    for method, template in AUTHENTICATED:
        if "{" in template:
            assert_refused(call(world, method, template, world.stranger), 404, (method, template))
    # And nothing changed: every thing is still there, as it was.
    api, ids = world.api, world.ids
    assert api.get(f"/runs/{ids['run_id']}").json["data"]["name"] == "hostile"
    assert api.get(f"/cases/{ids['ref']}").json["data"]["title"] == ""
    assert [r["status"] for r in api.get(f"/runs/{ids['run_id']}/results").json["data"]] == ["FAILED"]
    assert api.get(f"/attachments/{ids['attachment_id']}").content == SAMPLE_TEXT


def test_the_public_endpoints_are_only_health_and_the_description() -> None:
    public = set(operations(public=True)) - set(AUTHENTICATED)
    assert public == {("GET", "/api/v1/healthz")}  # /openapi.json is served but not described


@pytest.fixture
def small_api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    api = make_api(database_url, tmp_path / "files", max_body_bytes=4096)
    yield api
    api.db.close_all()


def test_every_json_write_refuses_an_oversized_body_with_413(small_api: Api) -> None:
    world = World(small_api, {"run_id": small_api.run(), "ref": small_api.case("HOST-1")}, "")
    body = b'{"name": "' + b"x" * 5000 + b'"}'
    for method, template in JSON_WRITES:
        assert_refused(call(world, method, template, small_api.token, body=body, headers=JSON), 413, template)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"name": "\xff\xfe", "code": "\xc3\x28", "results": "\xed\xa0\x80"}', id="invalid-utf8"
        ),
        pytest.param(b"\xef\xbb\xbf{}", id="byte-order-mark"),
        pytest.param(b'{"name": 1e999999}', id="huge-number"),
        pytest.param(b"null", id="null"),
        pytest.param(b'"a string"', id="string"),
    ],
)
def test_every_json_write_refuses_malformed_bodies_with_400(world: World, body: bytes) -> None:
    for method, template in JSON_WRITES:
        assert_refused(call(world, method, template, world.api.token, body=body, headers=JSON), 400, template)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"a": ' * 5000 + b"1" + b"}" * 5000, id="deep-objects"),
        pytest.param(b"[" * 50_000 + b"]" * 50_000, id="deep-arrays"),
    ],
)
def test_every_json_write_refuses_deeply_nested_bodies(world: World, body: bytes) -> None:
    # Too deep to parse (400), or refused before parsing for holding more JSON values than
    # that endpoint's bodies may (413, as for a run or case body of thousands of values).
    for method, template in JSON_WRITES:
        response = call(world, method, template, world.api.token, body=body, headers=JSON)
        assert_refused(response, 413 if response.status_code == 413 else 400, template)
        if response.status_code == 413:
            assert "JSON values" in response.json["error"]["message"]


def test_every_json_write_refuses_another_content_type_with_415(world: World) -> None:
    for content_type in (
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=X",
    ):
        headers = {"Content-Type": content_type} if content_type else {}
        for method, template in JSON_WRITES:
            body = VALID_BODIES[(method, template)]
            response = call(world, method, template, world.api.token, body=body, headers=headers)
            assert_refused(response, 415, (template, content_type))


def test_attachments_refuse_json_and_missing_content_types(world: World) -> None:
    template = "/api/v1/results/{result_id}/attachments"
    for headers in (JSON, {}):
        assert_refused(call(world, "POST", template, world.api.token, body=b"{}", headers=headers), 415)


HUGE = "x" * 1_100_000  # over every field's limit; ten of them stay under the 16 MiB body limit


RESULT_FIELDS = [
    "test_case_code", "test_case_id", "comment", "bug_ticket_key", "bug_ticket_url",
    "framework", "error_message", "error_stack", "executed_at", "status",
]  # fmt: skip


def test_a_huge_string_in_any_result_field_rejects_only_that_item(world: World) -> None:
    items = []
    for name in RESULT_FIELDS:
        item = {"test_case_code": "HOST-1", "status": "PASSED", name: HUGE}
        if name == "test_case_id":
            del item["test_case_code"]
        items.append(item)
    items.append({"test_case_code": "HOST-1", "status": "BROKEN"})
    run_id = world.api.run("huge strings")  # a run of its own: the module's run stays as it is
    response = world.api.post(f"/runs/{run_id}/results", json={"results": items})
    assert response.status_code == 207
    assert [e["index"] for e in response.json["errors"]] == list(range(len(RESULT_FIELDS)))
    assert all(len(e["message"]) < 2000 for e in response.json["errors"])  # no echo of the input
    rows = world.api.get(f"/runs/{run_id}/results").json["data"]
    assert [r["status"] for r in rows] == ["BROKEN"]


RUN_AND_CASE_FIELDS = [
    ("POST", "/api/v1/runs", "name"),
    ("PATCH", "/api/v1/runs/{run_id}", "name"),
    ("PATCH", "/api/v1/runs/{run_id}", "status"),
    ("POST", "/api/v1/cases", "code"),
    ("POST", "/api/v1/cases", "title"),
    ("PATCH", "/api/v1/cases/{ref}", "code"),
    ("PATCH", "/api/v1/cases/{ref}", "title"),
]


def test_a_huge_string_in_any_run_or_case_field_is_400(world: World) -> None:
    for method, template, field in RUN_AND_CASE_FIELDS:
        body = (
            {"code": "HOST-2", field: "\u00e9" * 1_100_000} if template == "/api/v1/cases" else {field: HUGE}
        )
        response = call(world, method, template, world.api.token, json=body)
        assert_refused(response, 400, (template, field))
        assert len(response.json["error"]["message"]) < 2000


def test_huge_and_invalid_ids_in_paths_are_404(world: World) -> None:
    for method, template in AUTHENTICATED:
        if "{" not in template:
            continue
        for bad in ("x" * 100_000, "%FF%FE", "%00", "..%2F..%2Fetc%2Fpasswd", "\u00e9" * 1000):
            ids = dict.fromkeys(world.ids, bad)
            response = call(World(world.api, ids, ""), method, template, world.api.token)
            assert_refused(response, 404, (method, template, bad[:20]))
            assert len(response.json["error"]["message"]) < 2000, (method, template)


BAD_PAGING = [
    "offset=9223372036854775808",
    "offset=1e3",
    "limit=%FF",
    "offset=-1",
    "limit=0",
    "limit=501",
    "limit=" + "9" * 5000,
]


def test_bad_paging_is_400_never_a_database_error(world: World) -> None:
    for path in ("/api/v1/runs", "/api/v1/cases"):
        for query in BAD_PAGING:
            response = world.api.client.simulate_get(
                path, query_string=query, headers={"Authorization": f"Bearer {world.api.token}"}
            )
            assert_refused(response, 400, (path, query[:40]))


def test_a_bad_status_filter_is_400(world: World) -> None:
    for status in ("%FF", "passed", "X" * 10_000):
        response = world.api.client.simulate_get(
            f"/api/v1/runs/{world.ids['run_id']}/results",
            query_string=f"status={status}",
            headers={"Authorization": f"Bearer {world.api.token}"},
        )
        assert_refused(response, 400)
