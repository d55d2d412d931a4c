"""The one place that chooses how to reach a collector: HTTP with a URL, else embedded."""

from __future__ import annotations

from pathlib import Path

from ..journal import is_database_url
from .transport import Transport


def connect(url: str | None, token: str | None, root: Path, project: str | None = None) -> Transport:
    """Build the transport asked for: HTTP with a URL, else the embedded collector on ``root``.

    ``project`` is the embedded collector's project key (default: the default project); over
    HTTP the token decides the project.

    Raises:
        ClientError: The embedded collector cannot open its database or has no such project,
            or the CA bundle the environment names for an HTTPS URL does not exist.
    """
    if url:
        return connect_url(url, token)
    from .embedded import EmbeddedTransport

    return EmbeddedTransport(root, project=project)


def connect_url(url: str, token: str | None) -> Transport:
    """Return the transport for a URL: a collector's HTTP URL, or an embedded database URL."""
    from .embedded import EmbeddedTransport

    if is_database_url(url):
        return EmbeddedTransport(Path.cwd(), database_url=url)
    from .http import HttpTransport

    return HttpTransport(url, token)
