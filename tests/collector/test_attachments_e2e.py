"""Attachments end to end: ``requests`` against a real ``qahub serve`` (waitress, SQLite)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from collector.attachments import MAX_FILES_PER_REQUEST
from tests.collector import attachment_samples as samples
from tests.support.server import CollectorServer

LIMIT = 4096  # ATTACHMENT_MAX_BYTES of the small server


def make_result(server: CollectorServer) -> str:
    code = f"E2E-{uuid.uuid4().hex[:8]}"
    server.create_case(code)
    run_id = server.create_run("attachments")
    response = server.session.post(
        f"{server.api}/runs/{run_id}/results",
        json={"results": [{"test_case_code": code, "status": "FAILED"}]},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["data"][0]["id"]


def upload(server: CollectorServer, result_id: str, files: list, **kw) -> requests.Response:
    return server.session.post(f"{server.api}/results/{result_id}/attachments", files=files, timeout=30, **kw)


def post_raw(server: CollectorServer, result_id: str, body, content_type: str) -> requests.Response:
    return server.session.post(
        f"{server.api}/results/{result_id}/attachments",
        data=body,
        headers={"Content-Type": content_type},
        timeout=30,
    )


def storage(server: CollectorServer) -> Path:
    return server.workdir / "attachments"


def stored_path(server: CollectorServer, attachment_id: str) -> Path:
    return storage(server) / attachment_id[-2:] / attachment_id


def temp_files(server: CollectorServer) -> list[Path]:
    return list((storage(server) / ".tmp").iterdir())


def assert_error(response: requests.Response, status: int, says: str = "") -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status
    assert says in error["message"]


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorServer]:
    """A server of its own with ``ATTACHMENT_MAX_BYTES=4096``."""
    server = CollectorServer(tmp_path_factory.mktemp("small"), extra_env={"ATTACHMENT_MAX_BYTES": str(LIMIT)})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(collector_server: CollectorServer) -> CollectorServer:
    """The session's shared server (tests use their own runs and results)."""
    return collector_server


@pytest.fixture
def result_id(server: CollectorServer) -> str:
    return make_result(server)


@pytest.mark.parametrize(("name", "data", "mime"), samples.ALLOWED_SAMPLES, ids=lambda v: str(v)[:20])
def test_every_allowed_type_uploads_and_downloads_unchanged(
    server: CollectorServer, result_id: str, name: str, data: bytes, mime: str
) -> None:
    response = upload(server, result_id, [("file", (name, data, "application/octet-stream"))])
    assert response.status_code == 201, response.text
    (item,) = response.json()["data"]
    assert (item["fileName"], item["mimeType"], item["size"]) == (name, mime, len(data))
    assert stored_path(server, item["id"]).read_bytes() == data
    download = server.session.get(f"{server.api}/attachments/{item['id']}", timeout=10)
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["Content-Type"].split(";")[0] == mime


def test_several_files_at_once(server: CollectorServer, result_id: str) -> None:
    files = [("file", (name, data)) for name, data, _ in samples.ALLOWED_SAMPLES]
    response = upload(server, result_id, files)
    assert response.status_code == 201, response.text
    assert [d["fileName"] for d in response.json()["data"]] == [n for n, _, _ in samples.ALLOWED_SAMPLES]
    listed = server.session.get(f"{server.api}/results/{result_id}/attachments", timeout=10)
    assert len(listed.json()["data"]) == len(samples.ALLOWED_SAMPLES)


def test_the_download_headers_keep_an_svg_from_running(server: CollectorServer, result_id: str) -> None:
    item = upload(server, result_id, [("file", ("Zeichnung ä.svg", samples.SVG))]).json()["data"][0]
    response = server.session.get(f"{server.api}/attachments/{item['id']}", timeout=10)
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert response.headers["Content-Length"] == str(len(samples.SVG))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Zeichnung a.svg\"; filename*=UTF-8''Zeichnung%20%C3%A4.svg"
    )
    assert (
        response.headers["Content-Security-Policy"]
        == "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    )
    assert response.headers["Cache-Control"] == "private"


@pytest.mark.parametrize(
    ("name", "data", "status", "says"),
    [
        ("setup.exe", samples.EXE, 415, "extension .exe"),
        ("setup", samples.EXE, 415, "neither text nor"),
        ("screenshot.png", samples.HTML, 415, "not a valid PNG"),
        ("dump.txt", bytes(range(256)), 415, "not UTF-8 text"),
        ("screenshot.pdf", samples.png(), 415, "contains PNG data but is named .pdf"),
        ("empty.png", b"", 400, "is empty"),
    ],
)
def test_refusals_leave_nothing_behind(
    server: CollectorServer, result_id: str, name: str, data: bytes, status: int, says: str
) -> None:
    before = sorted(storage(server).rglob("*"))
    response = upload(server, result_id, [("file", ("ok.png", samples.png())), ("file", (name, data))])
    assert_error(response, status, says)
    if status == 415:
        assert (
            "Allowed types: PNG (.png); JPG (.jpg, .jpeg); GIF (.gif)" in response.json()["error"]["message"]
        )
    assert sorted(storage(server).rglob("*")) == before
    assert temp_files(server) == []


def test_a_missing_file_part_is_a_bad_request(server: CollectorServer, result_id: str) -> None:
    response = upload(server, result_id, [("upload", ("a.png", samples.png()))])
    assert_error(response, 400, "No 'file' part")


@pytest.mark.parametrize(
    "body",
    [
        b"garbage without any boundary",
        samples.multipart([("file", "a.png", samples.png())])[:-40],
        b'--qahubBoundary7MA4YWxk\r\nContent-Disposition: form-data; name="file"',
    ],
    ids=["garbage", "truncated", "unfinished-headers"],
)
def test_broken_multipart_is_a_bad_request(server: CollectorServer, result_id: str, body: bytes) -> None:
    assert_error(post_raw(server, result_id, body, samples.multipart_type()), 400)
    assert temp_files(server) == []


def test_a_body_that_is_not_multipart_is_refused(server: CollectorServer, result_id: str) -> None:
    assert_error(post_raw(server, result_id, samples.png(), "image/png"), 415, "multipart/form-data")


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\win.ini.txt", None),
        ("C:\\x\\y.png", None),
        ("/tmp/../../shot.png", "shot.png"),
        ("bell\x07tab\tline\n.txt", None),
    ],
)
def test_path_tricks_in_names_never_reach_the_disk(
    server: CollectorServer, result_id: str, sent: str, shown: str | None
) -> None:
    data = samples.png() if sent.endswith(".png") else b"text\n"
    response = upload(server, result_id, [("file", (sent, data))])
    assert response.status_code == 201, response.text
    item = response.json()["data"][0]
    if shown is not None:
        assert item["fileName"] == shown
    assert "/" not in item["fileName"] and "\\" not in item["fileName"]
    assert not any(ord(c) < 32 for c in item["fileName"])
    assert stored_path(server, item["id"]).is_file()
    root = storage(server).resolve()
    assert not (root.parent / "etc").exists() and not Path("/etc/passwd.txt").exists()


def test_the_size_limit_is_exact_at_the_server(small_server: CollectorServer) -> None:
    result = make_result(small_server)
    at_limit = b"a" * (LIMIT - 1) + b"\n"
    assert upload(small_server, result, [("file", ("limit.txt", at_limit))]).status_code == 201
    response = upload(small_server, result, [("file", ("over.txt", at_limit + b"b"))])
    assert_error(response, 413, f"exceeds the limit of {LIMIT} bytes per file")
    assert temp_files(small_server) == []
    assert (
        len(small_server.session.get(f"{small_server.api}/results/{result}/attachments").json()["data"]) == 1
    )


def test_a_chunked_upload_over_the_limit_is_stopped_while_streaming(small_server: CollectorServer) -> None:
    result = make_result(small_server)
    body = samples.multipart([("file", "big.txt", b"a" * (LIMIT * 3))])

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = post_raw(small_server, result, chunks(), samples.multipart_type())
    assert_error(response, 413, "per file")
    assert temp_files(small_server) == []


def test_a_chunked_upload_within_the_limit_is_accepted(small_server: CollectorServer) -> None:
    result = make_result(small_server)
    body = samples.multipart([("file", "small.png", samples.png())])
    response = post_raw(small_server, result, iter([body[:50], body[50:]]), samples.multipart_type())
    assert response.status_code == 201, response.text


def test_a_request_declaring_too_many_bytes_is_refused(small_server: CollectorServer) -> None:
    result = make_result(small_server)
    files = [("file", (f"{i}.txt", b"a" * (LIMIT - 1) + b"\n")) for i in range(MAX_FILES_PER_REQUEST + 1)]
    assert_error(upload(small_server, result, files), 413, f"At most {MAX_FILES_PER_REQUEST} files")
    huge = [("file", ("huge.txt", b"a" * (2 * 1024 * 1024)))]
    assert_error(upload(small_server, result, huge), 413, "an upload request may carry at most")
    assert temp_files(small_server) == []


def test_deleting_a_result_or_run_removes_the_files(server: CollectorServer) -> None:
    session, api = server.session, server.api
    first, second = make_result(server), make_result(server)
    a = upload(server, first, [("file", ("a.png", samples.png()))]).json()["data"][0]
    b = upload(server, second, [("file", ("b.txt", b"b\n"))]).json()["data"][0]
    assert stored_path(server, a["id"]).is_file() and stored_path(server, b["id"]).is_file()

    assert session.delete(f"{api}/results/{first}", timeout=10).status_code == 204
    assert not stored_path(server, a["id"]).exists()
    assert session.get(f"{api}/attachments/{a['id']}", timeout=10).status_code == 404

    run_id = next(r["id"] for r in session.get(f"{api}/runs", timeout=10).json()["data"]
                  if second in {x["id"] for x in server.results(r["id"])})  # fmt: skip
    assert session.delete(f"{api}/runs/{run_id}", timeout=10).status_code == 204
    assert not stored_path(server, b["id"]).exists()
    assert session.get(f"{api}/runs/{run_id}", timeout=10).status_code == 404


def test_unknown_result_is_not_found(server: CollectorServer) -> None:
    assert_error(upload(server, "no-such-result", [("file", ("a.png", samples.png()))]), 404)
