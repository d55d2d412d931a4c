"""Attachment bytes in an S3-compatible object store: AWS S3, MinIO, Ceph RGW, Cloudflare R2, GCS.

Selected with ``QAHUB_STORAGE_URL=s3://bucket/prefix``. Credentials, region and endpoint come
from the standard AWS settings boto3 reads (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``, profiles, instance
roles), so the collector has no secret settings of its own. boto3 is the optional extra ``s3``.

An upload is spooled to a local temporary file first, as with the directory (a file is known to
be whole and of an allowed type only once its last byte is in), and then sent from that file:
in one ``PUT`` up to 8 MiB, as a multipart upload of 8 MiB parts above, one part at a time, so
memory stays bounded whatever the size.
An object appears whole or not at all; a multipart upload that fails is aborted, and one left
by a killed process is aborted by the next collector to start (after an hour).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from collector.config import MIB
from collector.errors import SettingsError, StorageError
from collector.storage import KEY_PATTERN, STALE_TEMP_S, TEMP_SUFFIX

if TYPE_CHECKING:
    from botocore.response import StreamingBody

log = logging.getLogger("collector.storage")

PART_BYTES = 8 * MIB
#: DeleteObjects takes at most this many keys per request.
DELETE_BATCH = 1000
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$")
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix`` into the bucket and a key prefix ('' or ending in '/').

    Raises:
        ValueError: the URL is not an ``s3://`` URL with a valid bucket name and a clean prefix.
    """
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() != "s3":
        raise ValueError("use s3://bucket or s3://bucket/prefix")
    if "?" in rest or "#" in rest:
        raise ValueError("an s3:// URL takes no query or fragment")
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(f"{bucket!r} is not a bucket name (3-63 lowercase letters, digits, '.', '-')")
    parts = [part for part in prefix.split("/") if part]
    if any(part in (".", "..") or not part.isprintable() for part in parts):
        raise ValueError(f"the prefix {prefix!r} may not hold '.', '..' or control characters")
    return bucket, "".join(f"{part}/" for part in parts)


def _boto3() -> Any:
    try:
        import boto3
    except ImportError as ex:
        raise SettingsError(
            "QAHUB_STORAGE_URL names an S3 bucket, but boto3 is not installed: pip install 'pytest-qahub[s3]'"
        ) from ex
    return boto3


def _error_code(ex: Exception) -> str:
    response = getattr(ex, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _reason(ex: Exception) -> str:
    code = _error_code(ex)
    return f"{code}: {ex}" if code and code not in str(ex) else str(ex) or type(ex).__name__


def is_stale(upload: dict, now: dt.datetime) -> bool:
    """Whether a multipart upload (as listed) began long enough ago to count as abandoned."""
    return upload["Initiated"] < now - dt.timedelta(seconds=STALE_TEMP_S)


class _ObjectReader:
    """An object's body as a read-only file; a broken connection is a `StorageError`."""

    def __init__(self, body: StreamingBody, key: str) -> None:
        self._body = body
        self._key = key

    def read(self, size: int | None = -1) -> bytes:
        from botocore.exceptions import BotoCoreError
        from urllib3.exceptions import HTTPError

        try:
            return self._body.read(None if size is None or size < 0 else size)
        except (BotoCoreError, HTTPError, OSError) as ex:
            raise StorageError(f"Reading {self._key} from the object store failed: {ex}") from ex

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> _ObjectReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class S3Storage:
    """Objects at ``<prefix><last two characters of the key>/<key>`` in one bucket.

    The layout is the directory storage's, so a directory can be moved into a bucket with
    ``aws s3 sync``. Temporary files of uploads live in ``temp_dir`` (the system's by default).
    """

    def __init__(
        self, url: str, *, presign_ttl_s: int | None = None, temp_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        boto3 = _boto3()
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.client = boto3.client(
            "s3",
            config=Config(
                retries={"mode": "standard", "max_attempts": 4},
                connect_timeout=10,
                read_timeout=60,
                max_pool_connections=32,  # waitress's threads plus the background chores
            ),
        )
        # One part at a time, in the request's own thread: memory stays at a few chunks per upload.
        self.transfer = TransferConfig(
            multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, use_threads=False
        )
        self.presign_ttl_s = presign_ttl_s
        self.temp_dir = Path(temp_dir) if temp_dir is not None else Path(tempfile.gettempdir())
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self._abort_stale_uploads()

    def __repr__(self) -> str:
        return f"S3Storage(s3://{self.bucket}/{self.prefix})"

    def object_key(self, key: str) -> str:
        """Return the object key of ``key`` (refusing anything that is not a generated key)."""
        if not KEY_PATTERN.match(key):
            raise ValueError(f"Not a storage key: {key!r}")
        return f"{self.prefix}{key[-2:]}/{key}"

    def create_temp(self) -> BinaryIO:
        return tempfile.NamedTemporaryFile(
            mode="wb", dir=self.temp_dir, prefix="qahub-upload-", suffix=TEMP_SUFFIX, delete=False
        )

    def discard_temp(self, temp_path: str | os.PathLike[str]) -> None:
        Path(temp_path).unlink(missing_ok=True)

    def save_from_temp(self, temp_path: str | os.PathLike[str], key: str) -> None:
        target = self.object_key(key)
        try:
            self.client.upload_file(os.fspath(temp_path), self.bucket, target, Config=self.transfer)
        except Exception as ex:  # boto3 raises its own and botocore's errors, and OSError
            raise StorageError(f"Uploading {key} to the object store failed: {_reason(ex)}") from ex
        Path(temp_path).unlink(missing_ok=True)

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as ex:
            if _error_code(ex) in _MISSING:
                raise FileNotFoundError(f"No object {self.object_key(key)} in bucket {self.bucket}") from ex
            raise StorageError(f"Reading {key} from the object store failed: {_reason(ex)}") from ex
        except BotoCoreError as ex:
            raise StorageError(f"Reading {key} from the object store failed: {ex}") from ex
        return _ObjectReader(response["Body"], key)  # type: ignore[return-value]

    def delete(self, key: str) -> None:
        failed = self.delete_many([key])
        if failed:
            raise StorageError(f"Removing {key} from the object store failed: {failed[key]}")

    def delete_many(self, keys: list[str]) -> dict[str, str]:
        from botocore.exceptions import BotoCoreError, ClientError

        failed: dict[str, str] = {}
        for start in range(0, len(keys), DELETE_BATCH):
            chunk = keys[start : start + DELETE_BATCH]
            by_object = {self.object_key(key): key for key in chunk}
            objects = [{"Key": name} for name in by_object]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
            except (BotoCoreError, ClientError) as ex:
                failed.update(dict.fromkeys(chunk, _reason(ex)))
                continue
            for error in answer.get("Errors", []):
                if error.get("Code") not in _MISSING:  # already gone is what was wanted
                    failed[by_object.get(error.get("Key"), error.get("Key"))] = str(
                        error.get("Message") or error.get("Code")
                    )
        return failed

    def check(self) -> None:
        """Raise `StorageError` unless the bucket answers with these credentials."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as ex:
            raise StorageError(f"Bucket {self.bucket} cannot be reached: {_reason(ex)}") from ex

    def download_url(self, key: str, file_name: str, content_type: str, disposition: str) -> str | None:
        """A presigned URL that serves ``key`` with these headers, or None when presigning is off."""
        if self.presign_ttl_s is None:
            return None
        from botocore.exceptions import BotoCoreError, ClientError

        params = {
            "Bucket": self.bucket,
            "Key": self.object_key(key),
            "ResponseContentType": content_type,
            "ResponseContentDisposition": disposition,
            "ResponseCacheControl": "private",
        }
        try:
            ttl = self.presign_ttl_s
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl)
        except (BotoCoreError, ClientError) as ex:
            raise StorageError(f"Presigning {key} failed: {_reason(ex)}") from ex

    def keys(self) -> Iterator[str]:
        """Every attachment key in the bucket under the prefix."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"].rsplit("/", 1)[-1]

    def unfinished_uploads(self) -> list[dict]:
        """The multipart uploads under the prefix that were neither completed nor aborted."""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        return [upload for page in pages for upload in page.get("Uploads", [])]

    def _abort_stale_uploads(self) -> None:
        """Abort multipart uploads an hour old: a killed collector left them (they cost storage)."""
        from botocore.exceptions import BotoCoreError, ClientError

        now = dt.datetime.now(dt.UTC)
        try:
            for upload in self.unfinished_uploads():
                if is_stale(upload, now):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    log.info("Aborted an abandoned multipart upload of %s", upload["Key"])
        except (BotoCoreError, ClientError) as ex:
            log.warning("Cannot look for abandoned multipart uploads in bucket %s: %s", self.bucket, ex)
