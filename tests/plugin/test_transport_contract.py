"""Both transports answer alike: HTTP against a real ``qahub serve``, and the embedded collector."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_qahub.delivery import http as client
from pytest_qahub.delivery.embedded import EmbeddedTransport
from pytest_qahub.delivery.http import HttpTransport
from pytest_qahub.delivery.transport import Transport
from pytest_qahub.errors import ClientError, NotFound
from tests.support.server import CollectorServer


@pytest.fixture(params=["http", "embedded"])
def transport(
    request: pytest.FixtureRequest,
    collector_server: CollectorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Transport]:
    if request.param == "http":
        opened: Transport = HttpTransport(collector_server.url, collector_server.token)
    else:
        monkeypatch.delenv("QAHUB_DATABASE_URL", raising=False)
        monkeypatch.delenv("QAHUB_STORAGE_DIR", raising=False)
        opened = EmbeddedTransport(tmp_path)
    yield opened
    opened.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_run_is_created_tagged_listed_and_completed(transport: Transport) -> None:
    name = unique("contract")
    tags = {"environment": "staging", "branch": "main", "commit": "abc", "build_url": "https://ci/1"}
    created = transport.create_run(name, tags)
    assert (created["name"], created["status"]) == (name, "PENDING")
    assert {tag: created[tag] for tag in tags} == tags
    assert transport.get_run(created["id"]) == created
    assert transport.list_runs(50)[0]["id"] == created["id"]  # newest first
    done = transport.update_run(created["id"], status="COMPLETED")
    assert done["status"] == "COMPLETED" and done["completed_at"]
    cleared = transport.update_run(created["id"], tags={"branch": None})
    assert (cleared["branch"], cleared["commit"]) == (None, "abc")


def test_a_tag_the_collector_refuses_is_a_client_error(transport: Transport) -> None:
    with pytest.raises(ClientError) as raised:
        transport.create_run("x", {"branch": "b" * 300})
    assert raised.value.status == 400
    assert "branch" in raised.value.message


def test_an_unknown_run_is_not_found(transport: Transport) -> None:
    for call in (
        lambda: transport.get_run("no-such-run"),
        lambda: transport.list_results("no-such-run"),
        lambda: transport.update_run("no-such-run", status="COMPLETED"),
    ):
        with pytest.raises(NotFound):
            call()


def test_results_are_listed_whole_or_by_status(transport: Transport) -> None:
    codes = [unique("LIST"), unique("LIST")]
    assert transport.import_cases([(code, "t") for code in codes]) == 2
    assert transport.import_cases([(codes[0], "again"), (unique("LIST"), "new")]) == 1
    run = transport.create_run("listing", {})
    outcome = transport.post_results(
        run["id"],
        [{"test_case_code": codes[0], "status": "PASSED"}, {"test_case_code": codes[1], "status": "FAILED"}],
    )
    assert outcome.status == 201
    assert {r["test_case_code"]: r["status"] for r in transport.list_results(run["id"])} == {
        codes[0]: "PASSED",
        codes[1]: "FAILED",
    }
    assert [r["test_case_code"] for r in transport.list_results(run["id"], "FAILED")] == [codes[1]]
    with pytest.raises(ClientError):
        transport.list_results(run["id"], "GREEN")


def test_it_is_idle_between_requests(transport: Transport) -> None:
    transport.case_codes()
    assert transport.activity() is None


def test_http_list_runs_follows_the_pages(collector_server: CollectorServer, monkeypatch) -> None:
    monkeypatch.setattr(client, "PAGE_SIZE", 2)
    transport = HttpTransport(collector_server.url, collector_server.token)
    try:
        for _ in range(5):
            transport.create_run(unique("page"), {})
        runs = transport.list_runs(5)
        assert len(runs) == 5
        assert len({run["id"] for run in runs}) == 5
        assert runs == transport.list_runs(500)[:5]
    finally:
        transport.close()


def test_http_ensure_run_never_creates_one(collector_server: CollectorServer) -> None:
    transport = HttpTransport(collector_server.url, collector_server.token)
    try:
        with pytest.raises(NotFound):
            transport.ensure_run("never-made")
    finally:
        transport.close()


def test_the_embedded_collector_works_in_the_project_given(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("QAHUB_DATABASE_URL", raising=False)
    with pytest.raises(NotFound, match="No project with key 'web'"):
        EmbeddedTransport(tmp_path, project="web")
    default = EmbeddedTransport(tmp_path)
    try:
        assert default.ensure_run("local-1")["id"] == "local-1"  # created on first use
    finally:
        default.close()
