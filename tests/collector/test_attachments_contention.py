"""Uploads beside other writers: the copy check holds no lock, a busy database is 503, a broken
storage is 503 and shows in ``/healthz``."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import falcon.testing
import pytest

from collector.app import create_app
from collector.models import Attachment
from collector.storage import TEMP_DIR, DirectoryStorage
from tests.collector import attachment_samples as samples
from tests.collector.test_attachments import make_result, upload
from tests.conftest import Api, make_api


def others_could_write(db_path: str) -> bool:
    """Tell whether another connection could take SQLite's write lock right now."""
    connection = sqlite3.connect(db_path, timeout=0)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.rollback()
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


class WatchedStorage(DirectoryStorage):
    """The real directory storage, noting at each read whether other writers could write then."""

    def __init__(self, root: Path, db_path: str) -> None:
        super().__init__(root)
        self.db_path = db_path
        self.writable_at_reads: list[bool] = []

    def open(self, key: str):
        self.writable_at_reads.append(others_could_write(self.db_path))
        return super().open(key)


def test_comparing_a_repeated_upload_with_earlier_files_holds_no_write_lock(
    sqlite_api: Api, tmp_path: Path
) -> None:
    storage = WatchedStorage(tmp_path / "watched", sqlite_api.settings.database_url.split("///", 1)[1])
    api = Api(
        falcon.testing.TestClient(create_app(sqlite_api.settings, sqlite_api.db, storage)),
        sqlite_api.settings,
        sqlite_api.db,
        sqlite_api.project,
        sqlite_api.token,
    )
    result_id = make_result(api)
    parts = [("file", "log.txt", b"one line\n" * 1000)]
    first = upload(api, result_id, parts).json["data"][0]

    again = upload(api, result_id, parts)

    assert again.status_code == 201
    assert again.json["data"][0]["id"] == first["id"]  # still recognised as the same file
    assert storage.writable_at_reads and all(storage.writable_at_reads), storage.writable_at_reads


def test_concurrent_uploads_of_one_file_to_one_result_leave_one_attachment(api: Api) -> None:
    result_id = make_result(api)
    parts = [("file", "shot.png", samples.png())]
    start = threading.Barrier(6)
    answers: list = []

    def send() -> None:
        start.wait(timeout=30)
        answers.append(upload(api, result_id, parts))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    assert len({a.json["data"][0]["id"] for a in answers}) == 1
    with api.db.connection_context():
        assert Attachment.select().where(Attachment.result == result_id).count() == 1


def test_a_locked_database_answers_503_with_retry_after_never_500(tmp_path: Path) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'busy.db'}", tmp_path / "files", sqlite_busy_timeout_s=0.2)
    api.case("TC-1")
    run_id = api.run()
    holder = sqlite3.connect(tmp_path / "busy.db", timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy timeout
    try:
        response = api.post(
            f"/runs/{run_id}/results", json={"results": [{"test_case_code": "TC-1", "status": "PASSED"}]}
        )
    finally:
        holder.rollback()
        holder.close()

    assert response.status_code == 503, response.text
    assert response.json["error"]["code"] == "unavailable"
    assert int(response.headers["Retry-After"]) > 0
    retried = api.post(
        f"/runs/{run_id}/results", json={"results": [{"test_case_code": "TC-1", "status": "PASSED"}]}
    )
    assert retried.status_code == 201


@pytest.fixture
def broken_storage_api(sqlite_api: Api) -> Api:
    """The API with a storage folder whose temporary folder has become a file (unwritable)."""
    temp = Path(sqlite_api.settings.storage_dir) / TEMP_DIR
    temp.rmdir()
    temp.write_text("not a folder")
    return sqlite_api


def test_an_unusable_storage_answers_uploads_503_and_keeps_taking_results(broken_storage_api: Api) -> None:
    api = broken_storage_api
    result_id = make_result(api)

    response = upload(api, result_id, [("file", "log.txt", b"a line\n")])

    assert response.status_code == 503, response.text
    assert response.json["error"]["code"] == "unavailable"
    assert str(api.settings.storage_dir) not in response.text  # the path is for the log, not clients
    assert "Retry-After" in response.headers
    run_id = api.run()
    more = api.post(
        f"/runs/{run_id}/results", json={"results": [{"test_case_code": "TC-001", "status": "PASSED"}]}
    )
    assert more.status_code == 201


def test_health_reports_a_broken_storage_as_degraded(broken_storage_api: Api) -> None:
    response = broken_storage_api.client.simulate_get("/healthz")

    assert response.status_code == 200  # results still work: stay in the load balancer's rotation
    assert response.json == {"status": "degraded", "database": "ok", "storage": "unavailable"}
