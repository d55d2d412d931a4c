"""Attachments through the Falcon app, on SQLite and PostgreSQL, in a directory and in S3 (moto).

Upload, list, download, delete: every test runs on each database with each storage.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import falcon.testing
import peewee
import pytest

from collector import attachments
from collector.app import create_app
from collector.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from collector.models import Attachment
from collector.projects import create_project
from collector.s3storage import S3Storage
from collector.storage import KEY_PATTERN, DirectoryStorage
from tests.collector import attachment_samples as samples
from tests.conftest import Api, make_api
from tests.support.storages import leftovers

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def make_result(api: Api, code: str = "TC-001") -> str:
    """Create a case, a run and a result; return the result's id."""
    api.case(code)
    run_id = api.run()
    response = api.post(
        f"/runs/{run_id}/results", json={"results": [{"test_case_code": code, "status": "FAILED"}]}
    )
    return response.json["data"][0]["id"]


def upload(api: Api, result_id: str, parts: list[tuple[str, str | None, bytes]], **kw):
    return api.post(
        f"/results/{result_id}/attachments",
        body=samples.multipart(parts),
        headers={"Content-Type": samples.multipart_type(), **kw.pop("headers", {})},
        **kw,
    )


@pytest.fixture(params=["directory", "s3"])
def api(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Api]:
    """The API in process on each database, with attachments in a directory and in a bucket."""
    storage = None
    if request.param == "s3":
        storage = S3Storage(request.getfixturevalue("s3_url"), temp_dir=tmp_path / "spool")
    api = make_api(database_url, tmp_path / "attachments", storage)
    yield api
    api.db.close_all()  # PostgreSQL refuses to drop a database with open connections


def stored_files(api: Api) -> list[str]:
    """Every key the storage holds, and any temporary file or unfinished upload left behind."""
    return leftovers(api.storage)


def read_stored(api: Api, key: str) -> bytes:
    with api.storage.open(key) as handle:
        return handle.read()


def assert_error(response, status: int, code: str, says: str = "") -> None:
    assert response.status_code == status, response.text
    assert set(response.json) == {"error"}
    assert response.json["error"]["status"] == status
    assert response.json["error"]["code"] == code
    assert says in response.json["error"]["message"]


def limited(api: Api, max_bytes: int) -> Api:
    """The same database and storage under a smaller ``ATTACHMENT_MAX_BYTES``."""
    settings = api.settings.model_copy(update={"attachment_max_bytes": max_bytes})
    client = falcon.testing.TestClient(create_app(settings, api.db, api.storage))
    return Api(client, settings, api.db, api.project, api.token, api.storage)


@pytest.fixture
def result_id(api: Api) -> str:
    return make_result(api)


def test_an_upload_answers_exactly_as_the_seed(api: Api, result_id: str) -> None:
    png = samples.png()
    response = upload(api, result_id, [("file", "screenshot.png", png)])
    assert response.status_code == 201
    (item,) = response.json["data"]
    assert set(response.json) == {"data"}
    assert set(item) == {"id", "fileName", "mimeType", "size", "createdAt"}
    assert item["fileName"] == "screenshot.png"
    assert item["mimeType"] == "image/png"
    assert item["size"] == len(png)
    assert STAMP.match(item["createdAt"])
    (key,) = stored_files(api)
    assert read_stored(api, key) == png
    assert key == item["id"]


def test_several_files_of_every_allowed_type_in_one_request(api: Api, result_id: str) -> None:
    parts = [("file", name, data) for name, data, _ in samples.ALLOWED_SAMPLES]
    response = upload(api, result_id, parts)
    assert response.status_code == 201, response.text
    data = response.json["data"]
    assert [d["fileName"] for d in data] == [name for name, _, _ in samples.ALLOWED_SAMPLES]
    assert [d["mimeType"] for d in data] == [mime for _, _, mime in samples.ALLOWED_SAMPLES]
    assert len({d["id"] for d in data}) == len(data)
    listed = api.get(f"/results/{result_id}/attachments").json["data"]
    assert listed == data  # oldest first; one request's files in the order they were sent
    for item, (_, body, _) in zip(data, samples.ALLOWED_SAMPLES, strict=True):
        assert api.get(f"/attachments/{item['id']}").content == body


def test_a_download_sends_the_bytes_with_safe_headers(api: Api, result_id: str) -> None:
    item = upload(api, result_id, [("file", "drawing.svg", samples.SVG)]).json["data"][0]
    response = api.get(f"/attachments/{item['id']}")
    assert response.status_code == 200
    assert response.content == samples.SVG
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert response.headers["Content-Length"] == str(len(samples.SVG))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"drawing.svg\"; filename*=UTF-8''drawing.svg"
    )
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp
    assert response.headers["Cache-Control"] == "private"


def test_text_is_downloaded_as_utf8(api: Api, result_id: str) -> None:
    item = upload(api, result_id, [("file", "console.txt", samples.TXT)]).json["data"][0]
    assert item["mimeType"] == "text/plain"
    response = api.get(f"/attachments/{item['id']}")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_a_non_ascii_name_gets_an_ascii_fallback_and_an_exact_utf8_name(api: Api, result_id: str) -> None:
    item = upload(api, result_id, [("file", "Écran final 100%.png", samples.png())]).json["data"][0]
    assert item["fileName"] == "Écran final 100%.png"
    disposition = api.get(f"/attachments/{item['id']}").headers["Content-Disposition"]
    assert disposition == (
        "attachment; filename=\"Ecran final 100_.png\"; filename*=UTF-8''%C3%89cran%20final%20100%25.png"
    )


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("/absolute/path/notes.log", "notes.log"),
        ("C:\\Users\\me\\shot.png", None),  # the parser unescapes the backslashes; no separator survives
        ("dir\\sub\\shot.png", None),
        ("bell\x07and\x1bescape.txt", "bellandescape.txt"),
        ("evil\u202egnp.txt", "evilgnp.txt"),
        ("..", "file"),
        ("", "file"),
        ("x" * 300 + ".txt", "x" * 251 + ".txt"),
    ],
)
def test_client_paths_never_reach_the_disk_and_names_are_cleaned(
    api: Api, result_id: str, sent: str, shown: str | None
) -> None:
    data = samples.png() if sent.endswith(".png") else b"plain text\n"
    response = upload(api, result_id, [("file", sent, data)])
    assert response.status_code == 201, response.text
    name = response.json["data"][0]["fileName"]
    if shown is not None:
        assert name == shown
    assert "/" not in name and "\\" not in name
    assert not any(ord(c) < 32 for c in name)
    assert all(KEY_PATTERN.match(key) for key in stored_files(api))  # generated names only


def test_a_part_without_a_file_name_is_named_file(api: Api, result_id: str) -> None:
    response = upload(api, result_id, [("file", None, b"log line\n")])
    assert response.json["data"][0]["fileName"] == "file"
    assert response.json["data"][0]["mimeType"] == "text/plain"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("setup.exe", samples.EXE),
        ("setup", samples.EXE),
        ("screenshot.png", samples.HTML),
        ("dump.txt", b"\x00\x01\x02\x03binary"),
        ("screenshot.pdf", samples.png()),
        ("page.html", samples.HTML),
    ],
)
def test_a_type_that_is_not_allowed_is_refused_with_415(
    api: Api, result_id: str, name: str, data: bytes
) -> None:
    response = upload(api, result_id, [("file", name, data)])
    assert_error(response, 415, "unsupported_media_type", "Allowed types: PNG (.png); JPG (.jpg, .jpeg)")
    assert stored_files(api) == []


def test_one_refused_part_refuses_the_whole_request_and_keeps_no_file(api: Api, result_id: str) -> None:
    parts = [
        ("file", "a.png", samples.png()),
        ("file", "b.json", samples.JSON),
        ("file", "c.png", samples.HTML),
    ]
    assert_error(upload(api, result_id, parts), 415, "unsupported_media_type", "'c.png'")
    assert stored_files(api) == []
    assert api.get(f"/results/{result_id}/attachments").json["data"] == []


def test_the_size_limit_is_exact(api: Api, result_id: str) -> None:
    small = limited(api, 4096)
    text = b"a" * 4095 + b"\n"
    assert upload(small, result_id, [("file", "limit.txt", text)]).status_code == 201
    response = upload(small, result_id, [("file", "over.txt", text + b"b")])
    assert_error(response, 413, "payload_too_large", "exceeds the limit of 4096 bytes per file")
    assert len(stored_files(api)) == 1


def test_a_large_file_after_a_good_one_leaves_nothing_behind(api: Api, result_id: str) -> None:
    small = limited(api, 4096)
    parts = [("file", "ok.png", samples.png()), ("file", "big.txt", b"a" * 10_000)]
    assert_error(upload(small, result_id, parts), 413, "payload_too_large", "'big.txt'")
    assert stored_files(api) == []


def test_a_request_declaring_too_many_bytes_is_refused_before_reading(api: Api, result_id: str) -> None:
    small = limited(api, 1024)
    limit = attachments.upload_limits(small.settings).request_bytes
    response = upload(small, result_id, [("file", "a.txt", b"x" * (limit + 1))])
    assert_error(response, 413, "payload_too_large", f"at most {limit}")
    assert stored_files(api) == []


def test_too_many_files_in_one_request_are_refused(api: Api, result_id: str) -> None:
    parts = [("file", f"{i}.txt", b"x\n") for i in range(attachments.MAX_FILES_PER_REQUEST + 1)]
    assert_error(upload(api, result_id, parts), 413, "payload_too_large", "At most 20 files")
    assert stored_files(api) == []


def test_an_empty_file_is_a_bad_request(api: Api, result_id: str) -> None:
    parts = [("file", "ok.txt", b"x\n"), ("file", "empty.png", b"")]
    assert_error(upload(api, result_id, parts), 400, "bad_request", "'empty.png' is empty")
    assert stored_files(api) == []


def test_a_body_without_a_file_part_is_a_bad_request(api: Api, result_id: str) -> None:
    response = upload(api, result_id, [("screenshot", "a.png", samples.png())])
    assert_error(response, 400, "bad_request", "No 'file' part")
    assert stored_files(api) == []


@pytest.mark.parametrize(
    "body",
    [
        b"this is not multipart at all",
        b"",
        samples.multipart([("file", "a.png", samples.png())])[:-30],  # the closing boundary is cut off
        samples.multipart([("file", "a.png", samples.png())]).replace(b"Content-Disposition", b"X", 1),
        b"--qahubBoundary7MA4YWxk\r\nno headers end here",
    ],
    ids=["garbage", "empty", "truncated", "no-disposition", "unfinished-headers"],
)
def test_broken_multipart_is_a_bad_request(api: Api, result_id: str, body: bytes) -> None:
    response = api.post(
        f"/results/{result_id}/attachments", body=body, headers={"Content-Type": samples.multipart_type()}
    )
    assert_error(response, 400, "bad_request")
    assert stored_files(api) == []


def test_a_multipart_type_without_boundary_is_a_bad_request(api: Api, result_id: str) -> None:
    body = samples.multipart([("file", "a.png", samples.png())])
    response = api.post(
        f"/results/{result_id}/attachments", body=body, headers={"Content-Type": "multipart/form-data"}
    )
    assert_error(response, 400, "bad_request", "boundary")


@pytest.mark.parametrize("content_type", ["application/json", "image/png", None])
def test_a_body_that_is_not_multipart_is_refused_with_415(
    api: Api, result_id: str, content_type: str | None
) -> None:
    response = api.post(
        f"/results/{result_id}/attachments", body=samples.png(), headers={"Content-Type": content_type}
    )
    assert_error(response, 415, "unsupported_media_type", "multipart/form-data")


def test_unknown_or_foreign_results_and_attachments_are_not_found(api: Api, result_id: str) -> None:
    item = upload(api, result_id, [("file", "a.png", samples.png())]).json["data"][0]
    with api.db.connection_context():
        other = create_project("other")
    stranger = api.token_for(project=other)
    for token in (None, stranger):
        missing = "nope" if token is None else result_id
        assert_error(upload(api, missing, [("file", "a.png", samples.png())], token=token), 404, "not_found")
        assert_error(api.get(f"/results/{missing}/attachments", token=token), 404, "not_found")
    assert_error(api.get(f"/attachments/{item['id']}", token=stranger), 404, "not_found")
    assert_error(api.get("/attachments/nope"), 404, "not_found")
    assert_error(api.delete(f"/results/{result_id}", token=stranger), 404, "not_found")
    assert len(stored_files(api)) == 1


def test_scopes_read_lists_and_downloads_write_uploads(api: Api, result_id: str) -> None:
    reader, writer = api.token_for("read"), api.token_for("write")
    assert_error(upload(api, result_id, [("file", "a.png", samples.png())], token=reader), 403, "forbidden")
    item = upload(api, result_id, [("file", "a.png", samples.png())], token=writer).json["data"][0]
    assert api.get(f"/results/{result_id}/attachments", token=reader).status_code == 200
    assert api.get(f"/attachments/{item['id']}", token=reader).status_code == 200
    assert api.get(f"/attachments/{item['id']}", token=writer).status_code == 403
    assert_error(api.delete(f"/results/{result_id}", token=reader), 403, "forbidden")


def test_deleting_a_result_removes_its_attachments_and_files(api: Api, result_id: str) -> None:
    other_result = make_result(api, "TC-002")
    item = upload(api, result_id, [("file", "a.png", samples.png()), ("file", "b.txt", b"b\n")]).json["data"][
        0
    ]
    upload(api, other_result, [("file", "c.png", samples.png())])
    assert len(stored_files(api)) == 3
    response = api.delete(f"/results/{result_id}")
    assert response.status_code == 204
    assert len(stored_files(api)) == 1
    assert_error(api.get(f"/attachments/{item['id']}"), 404, "not_found")
    assert_error(api.get(f"/results/{result_id}/attachments"), 404, "not_found")
    assert len(api.get(f"/results/{other_result}/attachments").json["data"]) == 1
    assert_error(api.delete(f"/results/{result_id}"), 404, "not_found")


def test_deleting_a_run_removes_its_results_attachments_and_files(api: Api, result_id: str) -> None:
    run_id = api.get("/runs").json["data"][0]["id"]
    upload(api, result_id, [("file", "a.png", samples.png())])
    kept = make_result(api, "TC-002")
    upload(api, kept, [("file", "c.png", samples.png())])
    assert api.delete(f"/runs/{run_id}").status_code == 204
    assert_error(api.get(f"/runs/{run_id}"), 404, "not_found")
    assert_error(api.get(f"/results/{result_id}/attachments"), 404, "not_found")
    assert len(stored_files(api)) == 1
    assert api.get(f"/results/{kept}/attachments").status_code == 200
    assert_error(api.delete(f"/runs/{run_id}"), 404, "not_found")


def test_another_projects_run_cannot_be_deleted(api: Api, result_id: str) -> None:
    run_id = api.get("/runs").json["data"][0]["id"]
    with api.db.connection_context():
        other = create_project("other")
    assert_error(api.delete(f"/runs/{run_id}", token=api.token_for(project=other)), 404, "not_found")
    assert api.get(f"/runs/{run_id}").status_code == 200


def test_a_failed_insert_removes_the_files_already_in_place(
    api: Api, result_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(rows):
        raise peewee.IntegrityError("the result went away")

    monkeypatch.setattr(Attachment, "bulk_create", fail)
    response = upload(api, result_id, [("file", "a.png", samples.png()), ("file", "b.txt", b"b\n")])
    assert_error(response, 404, "not_found")
    assert stored_files(api) == []


def test_a_row_whose_file_vanished_is_not_found_rather_than_a_crash(api: Api, result_id: str) -> None:
    item = upload(api, result_id, [("file", "a.png", samples.png())]).json["data"][0]
    for key in stored_files(api):
        api.storage.delete(key)
    assert_error(api.get(f"/attachments/{item['id']}"), 404, "not_found", "missing")


def test_the_app_uses_the_storage_it_is_given(api: Api, result_id: str, tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path / "elsewhere")
    client = falcon.testing.TestClient(create_app(api.settings, api.db, storage))
    other = Api(client, api.settings, api.db, api.project, api.token, storage)
    item = upload(other, result_id, [("file", "a.png", samples.png())]).json["data"][0]
    assert other.get(f"/attachments/{item['id']}").content == samples.png()
    assert leftovers(storage) == [item["id"]]
    assert stored_files(api) == []


def test_the_openapi_document_describes_attachments_and_deletion(api: Api) -> None:
    paths = api.get("/openapi.json").json["paths"]
    assert set(paths["/api/v1/results/{result_id}/attachments"]) >= {"get", "post"}
    assert "get" in paths["/api/v1/attachments/{attachment_id}"]
    assert "204" in paths["/api/v1/runs/{run_id}"]["delete"]["responses"]
    assert "204" in paths["/api/v1/results/{result_id}"]["delete"]["responses"]


def test_ids_with_a_nul_are_not_found_on_every_database(api: Api, result_id: str) -> None:
    assert_error(upload(api, "r%00x", [("file", "a.png", samples.png())]), 404, "not_found")
    assert_error(api.get("/results/r%00x/attachments"), 404, "not_found")
    assert_error(api.get("/attachments/a%00x"), 404, "not_found")
    assert_error(api.delete("/results/r%00x"), 404, "not_found")
    assert_error(api.delete("/runs/r%00x"), 404, "not_found")


def test_part_headers_that_are_not_utf8_are_a_bad_request(api: Api, result_id: str) -> None:
    body = samples.multipart([("file", "cafe.txt", b"x\n")]).replace(b"cafe", "café".encode("latin-1"))
    response = api.post(
        f"/results/{result_id}/attachments", body=body, headers={"Content-Type": samples.multipart_type()}
    )
    assert_error(response, 400, "bad_request", "UTF-8")
    assert stored_files(api) == []


def test_an_rfc5987_file_name_is_understood(api: Api, result_id: str) -> None:
    body = samples.multipart([("file", "x", b"x\n")]).replace(
        b'filename="x"', b"filename*=UTF-8''%E2%82%AC.txt"
    )
    response = api.post(
        f"/results/{result_id}/attachments", body=body, headers={"Content-Type": samples.multipart_type()}
    )
    assert response.status_code == 201, response.text
    assert response.json["data"][0]["fileName"] == "€.txt"


def test_local_files_attach_with_the_same_rules_without_http(api: Api, result_id: str) -> None:
    storage = api.storage
    limits = attachments.upload_limits(api.settings.model_copy(update={"attachment_max_bytes": 4096}))
    files = [("shot.png", io.BytesIO(samples.png())), ("../console.log", io.BytesIO(samples.TXT))]
    with api.db.connection_context():
        saved = attachments.attach_files(api.project, result_id, files, storage, limits)
        assert [(a.file_name, a.mime_type) for a in saved] == [
            ("shot.png", "image/png"),
            ("console.log", "text/plain"),
        ]
        refusals = [
            ([("big.txt", io.BytesIO(b"a" * 4097))], PayloadTooLarge),
            (
                [("ok.png", io.BytesIO(samples.png())), ("page.png", io.BytesIO(samples.HTML))],
                UnsupportedMediaType,
            ),
            ([("empty.txt", io.BytesIO(b""))], BadRequest),
            ([], BadRequest),
        ]
        for files, error in refusals:
            with pytest.raises(error):
                attachments.attach_files(api.project, result_id, files, storage, limits)
    listed = api.get(f"/results/{result_id}/attachments").json["data"]
    assert [a["fileName"] for a in listed] == ["shot.png", "console.log"]
    assert len(stored_files(api)) == 2
