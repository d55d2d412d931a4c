"""Checks of the collector URL and the token, shared by the plugin's settings and the HTTP client.

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
