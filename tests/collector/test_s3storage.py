"""The S3 storage against a real S3 protocol server (moto), with boto3 configured by the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from botocore.exceptions import EndpointConnectionError

from collector.config import MIB, Settings
from collector.errors import StorageError
from collector.s3storage import PART_BYTES, S3Storage
from collector.storage import open_storage
from tests.support.faults import closed_port_url
from tests.support.storages import leftovers, new_bucket


@pytest.fixture
def storage(s3_url: str, tmp_path: Path) -> S3Storage:
    return S3Storage(s3_url, temp_dir=tmp_path / "spool")


def temp_with(storage: S3Storage, data: bytes) -> str:
    handle = storage.create_temp()
    handle.write(data)
    handle.close()
    return handle.name


def fail_call(storage: S3Storage, operation: str, after: int = 0) -> None:
    """Make the client's ``operation`` fail as an unreachable endpoint would, after ``after`` successes."""
    calls = {"n": 0}

    def fail(**kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] > after:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    storage.client.meta.events.register(f"before-call.s3.{operation}", fail)


def test_the_settings_choose_the_store(s3_url: str, tmp_path: Path) -> None:
    assert type(open_storage(Settings(storage_dir=tmp_path))).__name__ == "DirectoryStorage"
    chosen = open_storage(Settings(storage_url=s3_url, storage_presign=True, storage_presign_ttl_s=30))
    assert isinstance(chosen, S3Storage)
    assert chosen.presign_ttl_s == 30
    assert chosen.prefix == "attachments/"


def test_a_saved_temp_file_becomes_an_object_under_the_directory_layout(storage: S3Storage) -> None:
    temp = temp_with(storage, b"bytes")
    storage.save_from_temp(temp, "cabc123xy")
    assert not Path(temp).exists()
    head = storage.client.head_object(Bucket=storage.bucket, Key="attachments/xy/cabc123xy")
    assert head["ContentLength"] == 5
    with storage.open("cabc123xy") as handle:
        assert handle.read(2) == b"by"
        assert handle.read() == b"tes"
    storage.delete("cabc123xy")
    storage.delete("cabc123xy")  # deleting twice is harmless
    with pytest.raises(FileNotFoundError):
        storage.open("cabc123xy")
    assert leftovers(storage) == []


@pytest.mark.parametrize("key", ["../escape", "a/b", "", "UPPER", "a" * 65])
def test_only_generated_keys_name_objects(storage: S3Storage, key: str) -> None:
    with pytest.raises(ValueError, match="Not a storage key"):
        storage.object_key(key)


def test_opening_a_missing_key_raises_file_not_found(storage: S3Storage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.open("cmissing00")


def test_a_large_file_goes_up_in_parts_and_comes_back_whole(storage: S3Storage) -> None:
    data = os.urandom(PART_BYTES * 2 + 12345)
    storage.save_from_temp(temp_with(storage, data), "clarge0001")
    head = storage.client.head_object(Bucket=storage.bucket, Key=storage.object_key("clarge0001"))
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
    with storage.open("clarge0001") as handle:
        assert b"".join(iter(lambda: handle.read(MIB), b"")) == data
    assert leftovers(storage) == ["clarge0001"]


def test_a_multipart_upload_failing_midway_is_aborted_and_leaves_nothing(storage: S3Storage) -> None:
    fail_call(storage, "UploadPart", after=1)
    temp = temp_with(storage, os.urandom(PART_BYTES * 2 + 1))
    with pytest.raises(StorageError, match="Uploading cbroken001 to the object store failed"):
        storage.save_from_temp(temp, "cbroken001")
    storage.discard_temp(temp)
    assert leftovers(storage) == []  # no object, no unfinished multipart upload, no temp file


def test_multipart_uploads_abandoned_earlier_are_aborted_at_start(storage: S3Storage, s3_url: str) -> None:
    key = storage.object_key("cabandon01")
    storage.client.create_multipart_upload(Bucket=storage.bucket, Key=key)
    assert leftovers(storage) == [f"multipart:{key}"]
    # moto lists every multipart upload as begun in 2010, so this one counts as abandoned.
    assert leftovers(S3Storage(s3_url)) == []


def test_delete_many_removes_what_exists_and_ignores_what_does_not(storage: S3Storage) -> None:
    for key in ("cone000001", "ctwo000002"):
        storage.save_from_temp(temp_with(storage, key.encode()), key)
    assert storage.delete_many(["cone000001", "ctwo000002", "cnever0003"]) == {}
    assert leftovers(storage) == []


def test_a_failed_delete_reports_each_key_with_the_reason(storage: S3Storage) -> None:
    storage.save_from_temp(temp_with(storage, b"x"), "ckeep00001")
    fail_call(storage, "DeleteObjects")
    failed = storage.delete_many(["ckeep00001"])
    assert list(failed) == ["ckeep00001"] and "Could not connect" in failed["ckeep00001"]
    with pytest.raises(StorageError, match="Removing ckeep00001"):
        storage.delete("ckeep00001")
    with storage.open("ckeep00001") as handle:
        assert handle.read() == b"x"


def test_check_passes_for_a_reachable_bucket_and_names_a_missing_one(storage: S3Storage) -> None:
    storage.check()
    missing = S3Storage(f"s3://{new_bucket()}-gone/x")
    with pytest.raises(StorageError, match=r"Bucket qahub-\w+-gone cannot be reached"):
        missing.check()


def test_check_fails_when_the_endpoint_is_down(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url())
    with pytest.raises(StorageError, match="cannot be reached"):
        S3Storage(s3_url).check()


def test_a_presigned_url_serves_the_object_with_the_given_headers(s3_url: str, tmp_path: Path) -> None:
    storage = S3Storage(s3_url, presign_ttl_s=60, temp_dir=tmp_path)
    storage.save_from_temp(temp_with(storage, b"log line\n"), "cpresign01")
    url = storage.download_url(
        "cpresign01", "run.log", "text/plain; charset=utf-8", 'attachment; filename="run.log"'
    )
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"log line\n"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="run.log"'
    assert "Expires=" in url or "X-Amz-Expires=60" in url
    assert S3Storage(s3_url).download_url("cpresign01", "run.log", "text/plain", "attachment") is None
