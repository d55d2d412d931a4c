"""A real S3 protocol server for tests: moto's standalone server on a free loopback port.

The collector and the tests reach it through boto3 configured only by the standard AWS
environment variables (``AWS_ENDPOINT_URL`` and dummy keys), as an operator would configure it.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import pytest

from collector.storage import DirectoryStorage, Storage


class S3Server:
    """moto's S3 server in a thread of this process, until `stop`."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS settings that point boto3 at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            # Nothing from the machine's own AWS files may take part.
            "AWS_CONFIG_FILE": "/nonexistent/qahub-tests/config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/qahub-tests/credentials",
        }

    def stop(self) -> None:
        self._server.stop()


def use_s3(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point boto3 in this process at ``server`` through the environment."""
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)


def new_bucket() -> str:
    """Create an empty bucket (boto3 configured by the environment); return its name."""
    import boto3

    # Never a real cloud: without the test server's endpoint, boto3 would go to AWS.
    assert os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://127.0.0.1:"), "call use_s3() first"
    name = f"qahub-{uuid.uuid4().hex[:16]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def leftovers(storage: Storage) -> list[str]:
    """Everything a storage holds: stored keys, temporary files and unfinished multipart uploads."""
    if isinstance(storage, DirectoryStorage):
        temps = [f".tmp/{p.name}" for p in storage.temp_dir.iterdir()]
        return sorted([*storage.keys(), *temps])
    temps = [f"temp:{p.name}" for p in Path(storage.temp_dir).glob("qahub-upload-*")]
    uploads = [f"multipart:{u['Key']}" for u in storage.unfinished_uploads()]
    return sorted([*storage.keys(), *temps, *uploads])
