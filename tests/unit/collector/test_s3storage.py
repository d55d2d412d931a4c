"""The S3 storage's rules that need no server: its URL, a missing boto3, abandoned uploads."""

from __future__ import annotations

import datetime as dt
import sys

import pytest

from collector.config import Settings, load_settings
from collector.errors import SettingsError
from collector.s3storage import is_stale, parse_s3_url
from collector.storage import STALE_TEMP_S, open_storage


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://qahub", "qahub", ""),
        ("s3://qahub/", "qahub", ""),
        ("s3://qahub/attachments", "qahub", "attachments/"),
        ("S3://my.bucket-1//team/a//", "my.bucket-1", "team/a/"),
    ],
)
def test_an_s3_url_names_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str) -> None:
    assert parse_s3_url(url) == (bucket, prefix)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("gs://bucket", "use s3://bucket"),
        ("bucket/prefix", "use s3://bucket"),
        ("s3://", "not a bucket name"),
        ("s3://Upper", "not a bucket name"),
        ("s3://ab", "not a bucket name"),
        ("s3://bucket/../x", "may not hold"),
        ("s3://bucket/a?versionId=1", "no query"),
    ],
)
def test_a_bad_storage_url_is_a_setting_error_naming_the_variable(url: str, says: str) -> None:
    with pytest.raises(SettingsError, match="QAHUB_STORAGE_URL") as caught:
        load_settings(storage_url=url)
    assert says in str(caught.value)


def test_without_boto3_an_s3_url_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if it were not installed
    with pytest.raises(SettingsError, match=r"boto3 is not installed: pip install 'pytest-qahub\[s3\]'"):
        open_storage(Settings(storage_url="s3://qahub/attachments"))


def test_only_uploads_begun_an_hour_ago_count_as_abandoned() -> None:
    now = dt.datetime(2026, 5, 13, 12, 0, tzinfo=dt.UTC)
    assert is_stale({"Initiated": now - dt.timedelta(seconds=STALE_TEMP_S + 1)}, now)
    assert not is_stale({"Initiated": now - dt.timedelta(minutes=5)}, now)
