"""Attachments in S3 end to end: real ``qahub serve`` processes, moto's S3 server, SQLite and PostgreSQL.

The servers get nothing but the standard AWS variables and ``QAHUB_STORAGE_URL``.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import boto3
import pytest
import requests

from collector.s3storage import PART_BYTES, S3Storage
from tests.collector import attachment_samples as samples
from tests.collector.test_cli import backdate
from tests.support.databases import fresh_postgres
from tests.support.server import CollectorServer
from tests.support.storages import S3Server, leftovers, new_bucket
from tests.support.waiting import wait_until

Start = Callable[..., CollectorServer]


@pytest.fixture
def start(s3_server: S3Server, tmp_path: Path) -> Iterator[Start]:
    """Start ``qahub serve`` processes on a bucket; each spools uploads to a folder of its own."""
    with ExitStack() as stack:

        def start_one(url: str, name: str = "collector", database_url: str | None = None, **env: str):
            spool = tmp_path / name / "spool"
            spool.mkdir(parents=True)
            extra = {**s3_server.env, "QAHUB_STORAGE_URL": url, "TMPDIR": str(spool), **env}
            server = CollectorServer(tmp_path / name, database_url=database_url, extra_env=extra)
            server.start()
            stack.callback(server.stop, kill=True)
            return server

        yield start_one


def make_result(server: CollectorServer) -> tuple[str, str]:
    """A run with one result; return both ids."""
    code = f"S3-{uuid.uuid4().hex[:8]}"
    server.create_case(code)
    run_id = server.create_run("s3")
    body = {"results": [{"test_case_code": code, "status": "FAILED"}]}
    response = server.session.post(f"{server.api}/runs/{run_id}/results", json=body, timeout=10)
    response.raise_for_status()
    return run_id, response.json()["data"][0]["id"]


def upload(server: CollectorServer, result_id: str, name: str, data: bytes) -> requests.Response:
    files = [("file", (name, data, "application/octet-stream"))]
    return server.session.post(f"{server.api}/results/{result_id}/attachments", files=files, timeout=120)


def storage_of(url: str, server: CollectorServer) -> S3Storage:
    return S3Storage(url, temp_dir=server.workdir / "spool")


def test_a_file_larger_than_a_part_streams_to_the_bucket_and_back(start: Start, s3_url: str) -> None:
    server = start(s3_url)
    assert server.session.get(f"{server.url}/healthz", timeout=10).json() == {
        "status": "ok",
        "database": "ok",
        "storage": "ok",
    }
    _, result_id = make_result(server)
    video = samples.mp4(PART_BYTES + 1024 * 1024)  # 9 MiB: a multipart upload of two parts
    response = upload(server, result_id, "recording.mp4", video)
    assert response.status_code == 201, response.text
    attachment_id = response.json()["data"][0]["id"]
    storage = storage_of(s3_url, server)
    assert leftovers(storage) == [attachment_id]  # no temp file, no unfinished multipart upload
    head = storage.client.head_object(Bucket=storage.bucket, Key=storage.object_key(attachment_id))
    assert head["ContentLength"] == len(video) and head["ETag"].strip('"').endswith("-2")
    download = server.session.get(f"{server.api}/attachments/{attachment_id}", timeout=60)
    assert download.status_code == 200
    assert download.content == video
    assert download.headers["Content-Type"] == "video/mp4"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download.headers["Content-Security-Policy"]
    assert download.headers["Content-Disposition"].startswith('attachment; filename="recording.mp4"')


def test_refused_uploads_leave_no_object_and_no_unfinished_upload(start: Start, s3_url: str) -> None:
    server = start(s3_url, ATTACHMENT_MAX_BYTES=str(PART_BYTES + 4096))
    _, result_id = make_result(server)
    storage = storage_of(s3_url, server)
    too_large = upload(server, result_id, "big.mp4", samples.mp4(PART_BYTES + 8192))
    assert too_large.status_code == 413, too_large.text
    wrong_type = upload(server, result_id, "page.png", samples.HTML)
    assert wrong_type.status_code == 415, wrong_type.text
    # One good part, then a part that is refused: the whole request goes, the good part too.
    files = [
        ("file", ("ok.mp4", samples.mp4(PART_BYTES + 10), "video/mp4")),
        ("file", ("setup.exe", samples.EXE, "application/octet-stream")),
    ]
    mixed = server.session.post(f"{server.api}/results/{result_id}/attachments", files=files, timeout=60)
    assert mixed.status_code == 415, mixed.text
    assert leftovers(storage) == []


def test_deleting_a_run_removes_its_objects(start: Start, s3_url: str) -> None:
    server = start(s3_url)
    run_id, result_id = make_result(server)
    assert upload(server, result_id, "log.txt", b"a log line\n").status_code == 201
    storage = storage_of(s3_url, server)
    assert len(leftovers(storage)) == 1
    assert server.session.delete(f"{server.api}/runs/{run_id}", timeout=10).status_code == 204
    assert leftovers(storage) == []


def test_presigned_downloads_redirect_to_the_store_with_the_same_headers(
    start: Start, s3_url: str, s3_server: S3Server
) -> None:
    server = start(s3_url, QAHUB_STORAGE_PRESIGN="1", QAHUB_STORAGE_PRESIGN_TTL_S="30")
    _, result_id = make_result(server)
    attachment_id = upload(server, result_id, "drawing.svg", samples.SVG).json()["data"][0]["id"]
    url = f"{server.api}/attachments/{attachment_id}"
    redirect = server.session.get(url, allow_redirects=False, timeout=10)
    assert redirect.status_code == 307
    assert redirect.headers["Location"].startswith(s3_server.endpoint)
    assert redirect.headers["Cache-Control"] == "no-store"
    followed = server.session.get(url, timeout=10)
    assert followed.content == samples.SVG
    assert followed.headers["Content-Type"] == "image/svg+xml"
    assert followed.headers["Content-Disposition"].startswith('attachment; filename="drawing.svg"')
    token = server.session.headers.pop("Authorization")
    try:  # the redirect is for the token's holder only
        assert server.session.get(url, allow_redirects=False, timeout=10).status_code == 401
    finally:
        server.session.headers["Authorization"] = token


def test_healthz_says_degraded_when_the_bucket_goes_away(start: Start, s3_url: str) -> None:
    bucket = new_bucket()
    server = start(f"s3://{bucket}/attachments")
    boto3.client("s3").delete_bucket(Bucket=bucket)
    response = server.session.get(f"{server.url}/healthz", timeout=30)
    assert response.status_code == 200  # results still work
    assert response.json() == {"status": "degraded", "database": "ok", "storage": "unavailable"}
    assert f"Bucket {bucket} cannot be reached" in server.server_log()


def test_serve_prunes_in_the_background_with_retention_days_and_stops_on_ctrl_c(
    start: Start, s3_url: str
) -> None:
    server = start(s3_url)
    old_run, old_result = make_result(server)
    recent_run, _ = make_result(server)
    assert upload(server, old_result, "old.txt", b"from long ago\n").status_code == 201
    server.stop()
    backdate(server.env, old_run, 45)
    server.env["QAHUB_RETENTION_DAYS"] = "30"
    server.start()
    runs = f"{server.api}/runs"
    wait_until(
        lambda: server.session.get(f"{runs}/{old_run}", timeout=10).status_code == 404,
        timeout=60,
        what="the background prune",
    )
    assert server.session.get(f"{runs}/{recent_run}", timeout=10).status_code == 200
    assert leftovers(storage_of(s3_url, server)) == []
    assert "Retention (QAHUB_RETENTION_DAYS=30, keep 0 per branch): removed 1 runs" in server.server_log()
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=30) == 0
    server.process.stdout.close()
    server.process = None
    assert "Traceback" not in server.server_log()


@pytest.mark.postgres
def test_two_collectors_on_one_postgres_and_one_bucket_share_every_file(start: Start, s3_url: str) -> None:
    with fresh_postgres() as url:
        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(lambda name: start(s3_url, name, database_url=url), ("a", "b"))
        run_id, result_id = make_result(first)
        video = samples.mp4(PART_BYTES + 512 * 1024)
        uploaded = upload(first, result_id, "through-first.mp4", video)
        assert uploaded.status_code == 201, uploaded.text
        attachment_id = uploaded.json()["data"][0]["id"]
        download = second.session.get(f"{second.api}/attachments/{attachment_id}", timeout=60)
        assert download.content == video
        listing = second.session.get(f"{second.api}/results/{result_id}/attachments", timeout=10)
        assert [item["id"] for item in listing.json()["data"]] == [attachment_id]
        # A retried upload through the other process is answered with the same attachment.
        again = upload(second, result_id, "through-first.mp4", video)
        assert again.json()["data"][0]["id"] == attachment_id
        assert second.session.delete(f"{second.api}/runs/{run_id}", timeout=30).status_code == 204
        assert first.session.get(f"{first.api}/attachments/{attachment_id}", timeout=10).status_code == 404
        assert leftovers(storage_of(s3_url, first)) == []
        for server in (first, second):
            server.stop()
            assert "Traceback" not in server.server_log()
