"""Fixtures shared by the whole suite: databases, an in-process API client, a real server.

Every test outside ``tests/unit`` is marked ``slow`` here, so ``pytest -m "not slow"`` runs
only the tests that need no other process, server, database or browser.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import falcon.testing
import peewee
import pytest

from collector import tokens
from collector.app import create_app
from collector.config import Settings
from collector.db import open_database
from collector.migrations import upgrade
from collector.models import Project
from collector.projects import get_project
from collector.storage import Storage, open_storage
from tests.support.databases import database_url_for
from tests.support.server import CollectorServer
from tests.support.storages import S3Server, new_bucket, use_s3

TESTS = Path(__file__).parent
#: The fast tests: code run in the test process alone (no subprocess, server, database or browser).
UNIT = TESTS / "unit"

#: Plugins of the test tools (schemathesis, hypothesis, anyio) that cost a pytest subprocess
#: seconds of imports and play no part in the sessions the plugin tests run.
LEAN_SUBPROCESS = "-p no:schemathesis -p no:hypothesispytest -p no:anyio"


def pytest_configure(config: pytest.Config) -> None:
    """Sessions the tests start deliver with a delivery process of their own.

    A resident one would outlive the test that started it and serve the next test's sessions;
    the tests of the resident (``tests/plugin/test_resident.py``) turn it on for themselves.
    """
    os.environ["QAHUB_KEEP_WARM"] = "0"


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test outside ``tests/unit`` slow: the folder a test is in says how fast it is."""
    for item in items:
        if not item.path.is_relative_to(UNIT):
            item.add_marker(pytest.mark.slow)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under ``-m "not slow"``, do not even import the test modules outside ``tests/unit``."""
    if config.getoption("markexpr") != "not slow" or collection_path.name in ("__init__.py", "conftest.py"):
        return None
    inside = collection_path.is_relative_to(TESTS) and collection_path != TESTS
    return True if inside and not collection_path.is_relative_to(UNIT) else None


@pytest.fixture(autouse=True)
def _lean_pytest_subprocesses(request: pytest.FixtureRequest) -> None:
    """Keep pytester's subprocess sessions from loading the fuzzing tools' pytest plugins."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")  # it clears PYTEST_ADDOPTS when it starts: set it after
        request.getfixturevalue("monkeypatch").setenv("PYTEST_ADDOPTS", LEAN_SUBPROCESS)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database, once on SQLite and once on PostgreSQL."""
    with database_url_for(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'qahub.db'}"


@dataclass
class Api:
    """A Falcon test client with a read/write token of the default project."""

    client: falcon.testing.TestClient
    settings: Settings
    db: peewee.Database
    project: Project
    token: str
    storage: Storage | None = None

    def token_for(self, scopes: str = "read,write", project: Project | None = None) -> str:
        with self.db.connection_context():
            return tokens.create_token(project or self.project, tokens.parse_scopes(scopes))[1]

    def get(self, path: str, token: str | None = None, **kw) -> falcon.testing.Result:
        return self.client.simulate_get(f"/api/v1{path}", headers=self._auth(token, kw), **kw)

    def post(self, path: str, token: str | None = None, **kw) -> falcon.testing.Result:
        return self.client.simulate_post(f"/api/v1{path}", headers=self._auth(token, kw), **kw)

    def patch(self, path: str, token: str | None = None, **kw) -> falcon.testing.Result:
        return self.client.simulate_patch(f"/api/v1{path}", headers=self._auth(token, kw), **kw)

    def delete(self, path: str, token: str | None = None, **kw) -> falcon.testing.Result:
        return self.client.simulate_delete(f"/api/v1{path}", headers=self._auth(token, kw), **kw)

    def _auth(self, token: str | None, kw: dict) -> dict:
        headers = {"Authorization": f"Bearer {token or self.token}", **kw.pop("headers", {})}
        return {k: v for k, v in headers.items() if v is not None}

    def run(self, name: str = "run") -> str:
        return self.post("/runs", json={"name": name}).json["data"]["id"]

    def case(self, code: str, title: str = "") -> str:
        return self.post("/cases", json={"code": code, "title": title}).json["data"]["id"]


def make_api(
    database_url: str, storage_dir: Path, storage: Storage | None = None, **overrides: object
) -> Api:
    """Build an app on ``database_url`` and a client holding a read/write token.

    ``storage`` defaults to the one the settings name (a directory at ``storage_dir``).
    """
    settings = Settings(database_url=database_url, storage_dir=storage_dir, **overrides)
    db = open_database(settings)
    upgrade(db)
    storage = storage or open_storage(settings)
    with db.connection_context():
        project = get_project()
        token = tokens.create_token(project, ("read", "write"))[1]
    client = falcon.testing.TestClient(create_app(settings, db, storage))
    return Api(client, settings, db, project, token, storage)


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """The API in process, on SQLite and on PostgreSQL."""
    api = make_api(database_url, tmp_path / "attachments")
    yield api
    api.db.close_all()  # PostgreSQL refuses to drop a database with open connections


@pytest.fixture
def sqlite_api(sqlite_url: str, tmp_path: Path) -> Api:
    """The API in process on SQLite only (for tests whose subject is not the database)."""
    return make_api(sqlite_url, tmp_path / "attachments")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on a free loopback port, for the session (tests use buckets of their own)."""
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_url(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<a new bucket>/attachments``, with boto3 pointed at moto through the AWS variables."""
    use_s3(s3_server, monkeypatch)
    return f"s3://{new_bucket()}/attachments"


@pytest.fixture(scope="session")
def collector_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorServer]:
    """One real ``qahub serve`` on SQLite for the session; tests use their own runs."""
    server = CollectorServer(tmp_path_factory.mktemp("collector"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[CollectorServer]:
    """A real ``qahub serve`` of the test's own, for tests that stop or kill it."""
    server = CollectorServer(tmp_path / "collector")
    server.start()
    yield server
    server.stop(kill=True)
