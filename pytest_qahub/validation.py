"""Checks of the values a user gives: the collector URL, the token, a run's name and tags.

Light on purpose (the standard library only): the test process checks its settings with it
before the delivery process, which talks HTTP, starts. Messages never repeat a token.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def collector_url(text: str) -> str:
    """Return a collector's base URL without its trailing slash.

    Raises:
        ValueError: Not an http(s) URL naming a host, or one with a query, a fragment,
            spaces or control characters.
    """
    url = text.strip()
    if any(char.isspace() or not char.isprintable() for char in url):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number from 0 to 65535)
    except ValueError as ex:
        raise ValueError(f"cannot be parsed ({ex})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("names no host")
    if "?" in url or "#" in url:
        raise ValueError("must not have a query or a fragment")
    return url.rstrip("/")


def bearer_token(text: str) -> str:
    """Return a token fit for an ``Authorization: Bearer`` header.

    Raises:
        ValueError: It holds spaces, control characters or anything but printable ASCII
            (the message does not show it).
    """
    token = text.strip()
    if not token:
        raise ValueError("must not be empty")
    if not all("!" <= char <= "~" for char in token):
        raise ValueError("must be printable ASCII without spaces (the value is not shown)")
    return token


def run_label(text: str, limit: int) -> str:
    """Return a run's name or tag value as the collector accepts it.

    Raises:
        ValueError: Empty, longer than ``limit`` characters, or holding control characters.
    """
    value = text.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > limit:
        raise ValueError(f"must be at most {limit} characters")
    if not value.isprintable():
        raise ValueError("must not contain control characters")
    return value
