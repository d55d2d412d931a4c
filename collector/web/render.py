"""Jinja2 templates with autoescaping on, the filters they use, and the headers every page gets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import falcon
import jinja2

from collector.resources.attachments import INLINE_IMAGE_TYPES
from collector.web.charts import sparkline
from collector.web.queries import EXPANDING, STATUS_ORDER

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

#: Pages run no script at all and load nothing from elsewhere.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def duration(ms: int | None) -> str:
    """Format milliseconds for a person: ``850 ms``, ``12.3 s``, ``4 min 05 s``."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds:02d} s"


def timestamp(value: dt.datetime | str | None) -> str:
    """Format a stored UTC timestamp (a datetime, or text as SQLite returns it) to the second."""
    if value is None:
        return ""
    text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value).replace("T", " ")
    return f"{text[:19]} UTC"


def web_link(url: str | None) -> str | None:
    """Return ``url`` if it may become a link (http or https with a host), else ``None``."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def file_size(size: int) -> str:
    """Format a byte count: ``512 B``, ``3.4 KiB``, ``2.0 MiB``."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"


def first_line(text: str | None, limit: int = 160) -> str:
    """Return the first non-blank line of ``text``, cut to ``limit`` characters."""
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def short_commit(commit: str | None) -> str:
    """Shorten a commit hash as git does (12 characters); other names are left whole."""
    text = commit or ""
    is_hash = len(text) > 12 and all(c in "0123456789abcdefABCDEF" for c in text)
    return text[:12] if is_hash else text


def segment(value: str) -> str:
    """Quote ``value`` for use as one path segment."""
    return quote(value, safe="")


def query(path: str, **params: object) -> str:
    """Build ``path?a=1&b=2`` from the parameters that have a value (page 1 is the default)."""
    kept = {k: v for k, v in params.items() if v not in (None, "") and not (k == "page" and v == 1)}
    return f"{path}?{urlencode(kept)}" if kept else path


def environment() -> jinja2.Environment:
    """Build the template environment: autoescaping everywhere, undefined names are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        duration=duration,
        timestamp=timestamp,
        web_link=web_link,
        file_size=file_size,
        first_line=first_line,
        segment=segment,
        short_commit=short_commit,
    )
    env.globals.update(
        query=query,
        sparkline=sparkline,
        IMAGE_TYPES=INLINE_IMAGE_TYPES,
        STATUS_ORDER=STATUS_ORDER,
        EXPANDING=EXPANDING,
    )
    return env


class Renderer:
    """Renders a template into a response with the page headers."""

    def __init__(self) -> None:
        self.env = environment()

    def page(self, resp: falcon.Response, template: str, status: str = falcon.HTTP_200, **context) -> None:
        resp.status = status
        resp.content_type = falcon.MEDIA_HTML
        resp.set_headers(PAGE_HEADERS)
        resp.text = self.env.get_template(template).render(**context)
