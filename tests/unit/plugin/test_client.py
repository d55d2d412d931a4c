"""The HTTP transport's checks before any request: a URL, token or CA bundle it cannot use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_qahub.delivery.http import HttpTransport
from pytest_qahub.errors import ClientError


def test_a_missing_ca_bundle_for_an_https_url_is_a_client_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-bundle.pem"
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(missing))
    with pytest.raises(ClientError, match=f"the CA bundle {re.escape(str(missing))} .* does not exist"):
        HttpTransport("https://qahub.invalid", "t")


@pytest.mark.parametrize(
    ("url", "token", "message"),
    [
        ("http://[::1", "t", "invalid URL 'http://[::1': cannot be parsed"),
        ("localhost:8080", "t", "invalid URL 'localhost:8080': must start with http:// or https://"),
        ("http://127.0.0.1:9", "qh_secret\nX", "invalid token: must be printable ASCII without spaces"),
    ],
)
def test_a_url_or_token_that_cannot_be_sent_is_a_client_error(url: str, token: str, message: str) -> None:
    with pytest.raises(ClientError) as raised:
        HttpTransport(url, token)
    assert raised.value.message.startswith(message)
    assert "qh_secret" not in str(raised.value)
