"""Tokens and scopes: 401 for bad tokens, 403 for a missing scope, 404 across projects."""

from __future__ import annotations

import pytest

from collector import tokens
from collector.models import ApiToken, Project
from collector.projects import create_project
from tests.conftest import Api


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer qh_short",
        "Bearer qh_abcdefgh_" + "x" * 43,
        "Bearer not-a-token-at-all",
    ],
)
def test_missing_malformed_or_unknown_tokens_are_401(api: Api, header: str | None) -> None:
    response = api.client.simulate_get("/api/v1/runs", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["error"]["code"] == "unauthorized"


def test_a_revoked_token_is_401(api: Api) -> None:
    token = api.token_for("read")
    assert api.get("/runs", token=token).status_code == 200
    with api.db.connection_context():
        tokens.revoke(token.split("_")[1])
    response = api.get("/runs", token=token)
    assert response.status_code == 401
    assert "revoked" in response.json["error"]["message"]


def test_a_right_prefix_with_a_wrong_secret_is_401(api: Api) -> None:
    prefix = api.token.split("_")[1]
    assert api.get("/runs", token=f"qh_{prefix}_{'A' * 43}").status_code == 401


def test_a_read_token_cannot_write(api: Api) -> None:
    reader = api.token_for("read")
    run_id = api.run()
    assert api.get(f"/runs/{run_id}", token=reader).status_code == 200
    response = api.post(f"/runs/{run_id}/results", token=reader, json={"results": []})
    assert response.status_code == 403
    assert "write" in response.json["error"]["message"]
    assert api.post("/runs", token=reader, json={"name": "x"}).status_code == 403


def test_a_write_token_cannot_read(api: Api) -> None:
    writer = api.token_for("write")
    assert api.post("/runs", token=writer, json={"name": "x"}).status_code == 201
    assert api.get("/runs", token=writer).status_code == 403


def test_me_answers_any_valid_token(api: Api) -> None:
    writer = api.token_for("write")
    data = api.get("/me", token=writer).json["data"]
    assert data["scopes"] == ["write"]
    assert data["project"]["key"] == "default"
    assert data["token"]["prefix"] == writer.split("_")[1]


def test_another_projects_things_are_not_found(api: Api) -> None:
    run_id = api.run()
    api.case("TC-1")
    with api.db.connection_context():
        other = create_project("other")
    stranger = api.token_for(project=other)
    assert api.get(f"/runs/{run_id}", token=stranger).status_code == 404
    assert api.get(f"/runs/{run_id}/results", token=stranger).status_code == 404
    assert api.get("/cases/TC-1", token=stranger).status_code == 404
    assert api.patch(f"/runs/{run_id}", token=stranger, json={"name": "mine"}).status_code == 404
    body = {"results": [{"test_case_code": "TC-1", "status": "PASSED"}]}
    assert api.post(f"/runs/{run_id}/results", token=stranger, json=body).status_code == 404
    assert api.get("/runs", token=stranger).json["data"] == []
    assert api.get("/cases", token=stranger).json["pagination"]["total"] == 0


def test_only_a_hash_of_the_secret_is_stored(api: Api) -> None:
    from collector.models import ApiToken

    secret = api.token.split("_", 2)[2]
    with api.db.connection_context():
        stored = [(t.secret_hash, t.prefix) for t in ApiToken.select()]
    assert all(secret not in h for h, _ in stored)
    assert len(secret) >= 40


def test_health_and_openapi_need_no_token(api: Api) -> None:
    health = api.client.simulate_get("/api/v1/healthz").json
    assert health == {"status": "ok", "database": "ok", "storage": "ok"}
    assert api.client.simulate_get("/healthz").status_code == 200
    spec = api.client.simulate_get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/runs/{run_id}/results" in spec["paths"]


def test_a_nul_in_an_id_is_404_on_every_database(api: Api) -> None:
    paths = ("/runs/%00", "/runs/a%00b/results", "/cases/%00", "/results/%00/attachments", "/attachments/%00")
    for path in paths:
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json["error"]["code"] == "not_found"


def test_a_token_is_read_as_peewee_reads_it_with_its_project(api: Api) -> None:
    # The look-up every request makes is raw SQL: it must build what the model query builds,
    # field for field (a column added to the models and not to the look-up fails here).
    with api.db.connection_context():
        revoked = tokens.revoke(api.token_for("read").split("_")[1])
        for prefix in (api.token.split("_")[1], revoked.prefix):
            raw = tokens._token_by_prefix(prefix)
            query = ApiToken.select(ApiToken, Project).join(Project).where(ApiToken.prefix == prefix)
            expected = query.first()
            assert raw.__data__ == expected.__data__
            assert raw.project.__data__ == expected.project.__data__
            assert not raw.is_dirty() and not raw.project.is_dirty()
        assert tokens._token_by_prefix("nosuchpr") is None
