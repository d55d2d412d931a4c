"""The collector's web page: runs and their results, server-rendered, behind a token sign-in."""

from __future__ import annotations

from pathlib import Path

import falcon

from collector.config import Settings
from collector.storage import Storage
from collector.web.pages import add_pages
from collector.web.session import SessionCodec

STATIC = Path(__file__).resolve().parent.parent / "static"


def add_web_routes(app: falcon.App, settings: Settings, storage: Storage) -> None:
    """Serve the pages at ``/``, ``/runs/{id}``, ``/login``, ``/logout`` and their files."""
    add_pages(app, SessionCodec(settings), storage)
    app.add_static_route("/static", str(STATIC))
