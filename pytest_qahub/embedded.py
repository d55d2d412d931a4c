"""The embedded collector as a `Transport`: results go to a local database, no server.

This is the plugin's only use of the ``collector`` package, through ``collector.embedded``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ClientError, Conflict, NotFound, PayloadTooLarge, ResponseError, ServerError
from .transport import Attachment, PostOutcome

_BY_STATUS: dict[int, type[ResponseError]] = {404: NotFound, 409: Conflict, 413: PayloadTooLarge}


class EmbeddedTransport:
    """Calls the collector's own code in this process, on ``QAHUB_DATABASE_URL``.

    Args:
        root: Where ``.qahub/`` goes when ``QAHUB_DATABASE_URL`` is not set (the rootdir).
        database_url: Use this database instead (``qahub replay`` of an embedded journal).
    """

    def __init__(self, root: Path, database_url: str | None = None) -> None:
        from collector.config import SettingsError
        from collector.db import DatabaseURLError
        from collector.embedded import EmbeddedCollector, embedded_settings

        try:
            settings = embedded_settings(root, database_url)
            self._collector = EmbeddedCollector(settings)
        except (SettingsError, DatabaseURLError) as ex:
            raise ClientError(400, "bad_request", str(ex)) from ex
        self.url = self._collector.location

    def _call(self, method: str, *args: Any) -> Any:
        from collector.errors import CollectorError

        try:
            return getattr(self._collector, method)(*args)
        except CollectorError as ex:
            status = ex.status
            kind = ServerError if status >= 500 else _BY_STATUS.get(status, ClientError)
            raise kind(status, ex.code, ex.message) from ex

    def get_run(self, run_id: str) -> dict[str, Any]:
        """Return the run, creating it on first use."""
        return self._call("ensure_run", run_id)

    def me(self) -> dict[str, Any]:
        return self._call("me")

    def case_codes(self) -> set[str]:
        return self._call("case_codes")

    def create_case(self, code: str, title: str) -> dict[str, Any]:
        return self._call("create_case", code, title)

    def post_results(self, run_id: str, results: list[dict[str, Any]]) -> PostOutcome:
        status, accepted, errors = self._call("post_results", run_id, results)
        return PostOutcome(status, accepted, errors)

    def upload_attachment(self, result_id: str, files: list[Attachment]) -> list[dict[str, Any]]:
        return self._call("upload_attachment", result_id, [(f.name, f.content) for f in files])

    def close(self) -> None:
        self._collector.close()
